import {chmod, chown, lchown, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {lookupUser} from '../../src/core/exec.js';
import {RefusedError} from '../../src/core/errors.js';
import {ensurePrivateDir, findUnsafeFolder, findUnsafeInTree} from '../../src/core/safe-dir.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';

const missing = testUserMissing();

describe.skipIf(missing !== false)(`findUnsafeFolder${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let root: string;
  const user = () => lookupUser(TEST_USER);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-safe-dir-'));
  });
  afterEach(async () => {
    await rm(root, {recursive: true, force: true});
  });

  it('accepts folders only root can write, and a path whose end does not exist yet', async () => {
    await mkdir(join(root, 'a', 'b'), {recursive: true, mode: 0o755});
    expect(findUnsafeFolder(join(root, 'a', 'b'))).toBeUndefined();
    expect(findUnsafeFolder(join(root, 'a', 'b', 'not', 'yet'))).toBeUndefined();
  });

  it('names a group-writable folder above, with its owner and mode', async () => {
    await mkdir(join(root, 'shared', 'backups'), {recursive: true});
    await chmod(join(root, 'shared'), 0o775);
    expect(findUnsafeFolder(join(root, 'shared', 'backups'))).toEqual({path: join(root, 'shared'), owner: 'root', mode: 0o775, why: 'is writable by its group', isLink: false});
  });

  it('names a folder that belongs to another user, even one not writable by others', async () => {
    await mkdir(join(root, 'runtime', 'backups'), {recursive: true});
    await chown(join(root, 'runtime'), user().uid, user().gid);
    expect(findUnsafeFolder(join(root, 'runtime', 'backups'))).toMatchObject({path: join(root, 'runtime'), owner: TEST_USER, mode: 0o755, why: 'belongs to another user'});
  });

  it('accepts a sticky world-writable folder above (like /tmp), but not as the folder itself, nor another user\'s folder in it', async () => {
    const sticky = join(root, 'tmp');
    await mkdir(join(sticky, 'mine'), {recursive: true, mode: 0o700});
    await chmod(sticky, 0o1777);
    expect(findUnsafeFolder(join(sticky, 'mine'))).toBeUndefined();
    expect(findUnsafeFolder(join(sticky, 'mine', 'new'))).toBeUndefined();
    expect(findUnsafeFolder(sticky)).toMatchObject({path: sticky, mode: 0o1777, why: 'is writable by all users (the sticky bit does not stop them creating names in it)'});
    await mkdir(join(sticky, 'theirs'));
    await chown(join(sticky, 'theirs'), user().uid, user().gid);
    expect(findUnsafeFolder(join(sticky, 'theirs', 'backups'))).toMatchObject({path: join(sticky, 'theirs'), why: 'belongs to another user'});
  });

  it('follows root\'s symlinks and checks where they lead; another user\'s symlink is refused', async () => {
    await mkdir(join(root, 'open', 'deep'), {recursive: true});
    await chmod(join(root, 'open'), 0o777);
    await symlink(join(root, 'open', 'deep'), join(root, 'link'));
    await symlink('link', join(root, 'relative'));
    expect(findUnsafeFolder(join(root, 'relative', 'backups'))).toMatchObject({path: join(root, 'open'), why: 'is writable by all users'});

    await mkdir(join(root, 'safe'));
    await symlink(join(root, 'safe'), join(root, 'planted'));
    await lchown(join(root, 'planted'), user().uid, user().gid);
    expect(findUnsafeFolder(join(root, 'planted', 'backups'))).toMatchObject({path: join(root, 'planted'), owner: TEST_USER, why: 'is a symlink that belongs to another user', isLink: true});
  });
});

describe.skipIf(missing !== false)(`findUnsafeInTree${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let root: string;
  let plugin: string;
  const user = () => lookupUser(TEST_USER);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-safe-tree-'));
    plugin = join(root, 'plugin');
    await mkdir(join(plugin, 'dist', 'hooks'), {recursive: true, mode: 0o755});
    await writeFile(join(plugin, 'package.json'), '{}', {mode: 0o644});
    await writeFile(join(plugin, 'dist', 'hooks', 'health.js'), 'export default () => {}', {mode: 0o644});
  });
  afterEach(async () => {
    await rm(root, {recursive: true, force: true});
  });

  it('accepts a tree that only root can change', () => {
    expect(findUnsafeInTree(plugin)).toBeUndefined();
  });

  it('names a file deep in the tree that others may write, or that another user owns', async () => {
    const hook = join(plugin, 'dist', 'hooks', 'health.js');
    await chmod(hook, 0o646);
    expect(findUnsafeInTree(plugin)).toEqual({path: hook, owner: 'root', mode: 0o646, why: 'is writable by all users', isLink: false});
    await chmod(hook, 0o644);
    await chown(hook, user().uid, user().gid);
    expect(findUnsafeInTree(plugin)).toMatchObject({path: hook, owner: TEST_USER, why: 'belongs to another user'});
  });

  it('refuses a sticky folder inside the tree, which it accepts above it', async () => {
    await chmod(join(plugin, 'dist'), 0o1777);
    expect(findUnsafeInTree(plugin)).toMatchObject({path: join(plugin, 'dist'), why: 'is writable by all users (the sticky bit does not stop them creating names in it)'});
    await chmod(join(plugin, 'dist'), 0o755);
    await chmod(root, 0o1777);
    expect(findUnsafeInTree(plugin)).toBeUndefined();
  });

  it('follows a symlink out of the tree and judges where it leads, and the path to it', async () => {
    const outside = join(root, 'shared', 'lib');
    await mkdir(outside, {recursive: true, mode: 0o755});
    await writeFile(join(outside, 'index.js'), '', {mode: 0o644});
    await symlink(outside, join(plugin, 'lib'));
    expect(findUnsafeInTree(plugin)).toBeUndefined();
    await chmod(join(outside, 'index.js'), 0o664);
    expect(findUnsafeInTree(plugin)).toMatchObject({path: join(outside, 'index.js'), why: 'is writable by its group'});
    await chmod(join(outside, 'index.js'), 0o644);
    await chmod(join(root, 'shared'), 0o777);
    expect(findUnsafeInTree(plugin)).toMatchObject({path: join(root, 'shared'), why: 'is writable by all users'});
    // A symlink another user owns is refused for what it is, wherever it leads.
    await chmod(join(root, 'shared'), 0o755);
    await lchown(join(plugin, 'lib'), user().uid, user().gid);
    expect(findUnsafeInTree(plugin)).toMatchObject({path: join(plugin, 'lib'), why: 'is a symlink that belongs to another user', isLink: true});
  });

  it('leaves out the folders it is told to judge on their own', async () => {
    await chmod(join(plugin, 'dist'), 0o775);
    expect(findUnsafeInTree(root)).toMatchObject({path: join(plugin, 'dist')});
    expect(findUnsafeInTree(root, new Set([plugin]))).toBeUndefined();
  });
});

describe.skipIf(missing !== false)(`ensurePrivateDir${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-private-dir-'));
  });
  afterEach(async () => {
    await rm(root, {recursive: true, force: true});
  });

  it('creates the folder 0700, and accepts it again', async () => {
    ensurePrivateDir(join(root, '.parako'));
    expect((await stat(join(root, '.parako'))).mode & 0o777).toBe(0o700);
    ensurePrivateDir(join(root, '.parako'));
  });

  it('refuses a symlink, even a dangling one, and creates nothing where it leads', async () => {
    await symlink(join(root, 'elsewhere'), join(root, '.parako'));
    expect(() => ensurePrivateDir(join(root, '.parako'))).toThrow(RefusedError);
    expect(() => ensurePrivateDir(join(root, '.parako'))).toThrow(`${join(root, '.parako')} is a symlink (to ${join(root, 'elsewhere')})`);
    expect(await readdir(root)).toEqual(['.parako']);
  });

  it('refuses a folder another user owns or may write, and a file', async () => {
    const state = join(root, '.parako');
    await mkdir(state, {mode: 0o700});
    await chown(state, lookupUser(TEST_USER).uid, 0);
    expect(() => ensurePrivateDir(state)).toThrow(`${state} (owner ${TEST_USER}, mode 0700) belongs to another user`);
    await chown(state, 0, 0);
    await chmod(state, 0o757);
    expect(() => ensurePrivateDir(state)).toThrow(`${state} (owner root, mode 0757) is writable by all users`);
    await rm(state, {recursive: true});
    await writeFile(state, '');
    expect(() => ensurePrivateDir(state)).toThrow(`${state} is not a folder`);
  });
});
