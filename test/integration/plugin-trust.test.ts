/**
 * StrictModes for plugins (docs/plugins/managing.md, "Who may change a plugin"): parako loads
 * an installed or linked plugin only when nobody but root (or the user running parako) can
 * change its files or a folder on the way to them. A refused plugin's code never runs, not
 * even the `init` hook oclif would run at start-up, and an update refuses to go on (exit 6)
 * naming the offending path, its owner and mode, and the command that fixes it.
 */
import {execFile} from 'node:child_process';
import {chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {lookupUser} from '../../src/core/exec.js';
import {type CliResult, runParako} from '../fixtures/cli.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';
import {currentTarget, expectExit, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const missing = testUserMissing();
if (missing !== false && process.env.CI === 'true') throw new Error(`plugin-trust tests need root and the ${TEST_USER} user under CI: ${missing}`);

const NAME = 'parako-plugin-guard';
const worlds = useInstalledWorlds();

let root: string;
let store: string;
let storeEnv: Record<string, string>;
/** A file the plugin's code writes when it runs at all: oclif's init hook, or its health hook. */
let ran: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'parako-trust-'));
  store = join(root, 'store');
  ran = join(root, 'ran.log');
  storeEnv = {PARAKO_DATA_DIR: store, npm_config_offline: 'true'};
});
afterEach(async () => {
  await rm(root, {recursive: true, force: true});
});

/**
 * A plugin in plain JavaScript whose code, wherever it runs, leaves a line in `ran`: an `init`
 * hook (oclif runs it at every start-up for every loaded plugin) and a `health` hook.
 */
async function writePlugin(dir: string): Promise<string> {
  await mkdir(join(dir, 'hooks'), {recursive: true, mode: 0o755});
  const record = (what: string): string => `import {appendFileSync} from 'node:fs';\nexport default async function () { appendFileSync(${JSON.stringify(ran)}, '${what}\\n'); }\n`;
  await writeFile(join(dir, 'package.json'), JSON.stringify({name: NAME, version: '1.0.0', type: 'module', files: ['hooks'], oclif: {hooks: {init: './hooks/init.js', health: './hooks/health.js'}}}), {mode: 0o644});
  await writeFile(join(dir, 'hooks', 'init.js'), record('init'), {mode: 0o644});
  await writeFile(join(dir, 'hooks', 'health.js'), record('health'), {mode: 0o644});
  return dir;
}

async function ranLines(): Promise<string[]> {
  return (await readFile(ran, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
}

interface Listing {
  notLoaded: Array<{plugin: string; type: string; root?: string; refused?: {path: string; owner: string; mode: string; why: string; fix: string}}>;
  plugins: Array<{plugin: string; origin: string; files: string}>;
  filesCheck: 'on' | 'off';
}

async function listing(env: Record<string, string> = storeEnv, user?: {uid: number; gid: number}): Promise<Listing> {
  const result = await runParako(['hooks', '--json', '--dir', join(root, 'no-install')], {env, user});
  expectExit(result, 0);
  return jsonOf(result) as unknown as Listing;
}

async function link(folder: string, env: Record<string, string> = storeEnv, user?: {uid: number; gid: number}): Promise<CliResult> {
  const result = await runParako(['plugins', 'link', '--no-install', folder], {env, user});
  expectExit(result, 0);
  return result;
}

/** An update of an installed world with the plugin store: v1.1.0 is published first. */
async function updateWith(env: Record<string, string> = storeEnv): Promise<{result: CliResult; current: string | undefined}> {
  const world = await worlds.installed();
  await world.publish({version: '1.1.0'});
  const result = await parako(world, ['update'], {env});
  return {result, current: await currentTarget(world)};
}

/** The refusal as every run prints it, and as the update's error names it. */
function expectRefusal(result: CliResult, path: string, owner: string, mode: string, why: string, fix: string): void {
  expectExit(result, 6);
  expect(result.stderr).toContain(`plugin ${NAME} (`);
  expect(result.stderr).toContain(`${path} (owner ${owner}, mode ${mode}) ${why}, so a user other than root could change code that runs as root`);
  expect(result.stderr).toContain(`next: ${fix}, then run this again; or remove the plugin: parako plugins uninstall ${NAME}. Nothing was changed`);
}

describe.skipIf(missing !== false)(`a linked plugin${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('in a folder another user owns: link warns at once, it is not loaded, its code never runs, and an update refuses with exit 6', async () => {
    const user = lookupUser(TEST_USER);
    const folder = await writePlugin(join(root, 'srv', 'health'));
    await chown(folder, user.uid, user.gid);
    const fix = `chown -R root:root ${folder} && chmod -R go-w ${folder}`;

    const linked = await link(folder);
    expect(linked.stderr).toContain(`parako: WARNING: ${folder} (owner ${TEST_USER}, mode 0755) belongs to another user, so a user other than root could change code that would run as root. Updates and rollbacks will refuse to run with this plugin linked. Fix: ${fix}`);

    const listed = await listing();
    expect(listed.notLoaded).toEqual([
      {plugin: NAME, type: 'link', root: folder, refused: {path: folder, owner: TEST_USER, mode: '0755', why: `${folder} (owner ${TEST_USER}, mode 0755) belongs to another user`, fix}},
    ]);
    const human = await runParako(['hooks', '--dir', join(root, 'no-install')], {env: storeEnv});
    expect(human.stdout).toContain(`REFUSED:      ${NAME} (linked from ${folder}) is not loaded: ${folder} (owner ${TEST_USER}, mode 0755) belongs to another user,`);
    expect(human.stdout).toContain(`              fix: ${fix}\n`);

    const {result, current} = await updateWith();
    expectRefusal(result, folder, TEST_USER, '0755', 'belongs to another user', fix);
    expect(result.stderr).toContain(`parako: WARNING: plugin ${NAME} is not loaded: ${folder} (owner ${TEST_USER}, mode 0755) belongs to another user`);
    expect(current).toBe('releases/v1.0.0');
    expect(await ranLines()).toEqual([]); // not even oclif's init hook ran

    // The documented fix, and the same plugin is loaded, checked, and runs.
    await promisify(execFile)('sh', ['-c', fix]);
    expect((await listing()).plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({origin: 'linked', files: 'root-only'});
    const fixed = await updateWith();
    expectExit(fixed.result, 0);
    expect(fixed.result.stderr).not.toContain('WARNING');
    expect(await ranLines()).toContain('health');
  });

  it('in a group-writable folder: refused, naming the folder and its mode', async () => {
    const folder = await writePlugin(join(root, 'srv', 'health'));
    await chmod(folder, 0o775);
    await link(folder);
    const {result, current} = await updateWith();
    expectRefusal(result, folder, 'root', '0775', 'is writable by its group', `chown -R root:root ${folder} && chmod -R go-w ${folder}`);
    expect(current).toBe('releases/v1.0.0');
    expect(await ranLines()).toEqual([]);
  });

  it('under a world-writable parent: refused without the sticky bit (naming the parent), loaded with it', async () => {
    const parent = join(root, 'shared');
    const folder = await writePlugin(join(parent, 'health'));
    await chmod(parent, 0o777);
    await link(folder);
    const refused = (await listing()).notLoaded[0]?.refused;
    expect(refused).toEqual({
      path: parent,
      owner: 'root',
      mode: '0777',
      why: `${parent} (owner root, mode 0777) is writable by all users`,
      fix: `chmod go-w ${parent}, or move the plugin to a folder root owns (for example /usr/local/lib/parako-plugins/)`,
    });
    const {result} = await updateWith();
    expectExit(result, 6);
    expect(await ranLines()).toEqual([]);

    // Like /tmp: others may add names in a sticky folder but cannot move root's folder away.
    await chmod(parent, 0o1777);
    const after = await listing();
    expect(after.notLoaded).toEqual([]);
    expect(after.plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({files: 'root-only'});
  });
});

describe.skipIf(missing !== false)(`an installed plugin${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('loads as npm installed it; one of its files made writable, it is refused by that file', async () => {
    const folder = await writePlugin(join(root, 'src', 'guard'));
    const {stdout} = await promisify(execFile)('npm', ['pack', '--json', '--pack-destination', root], {cwd: folder});
    const tarball = join(root, (JSON.parse(stdout) as Array<{filename: string}>)[0]!.filename);
    const install = await runParako(['plugins', 'install', tarball], {env: storeEnv, timeoutMs: 120_000});
    expectExit(install, 0);
    expect(install.stderr).not.toContain('WARNING');
    expect((await listing()).plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({origin: 'installed', files: 'root-only'});

    const hook = join(store, 'node_modules', NAME, 'hooks', 'health.js');
    await chmod(hook, 0o666);
    const listed = await listing();
    expect(listed.notLoaded).toEqual([expect.objectContaining({plugin: NAME, type: 'user', refused: expect.objectContaining({path: hook, mode: '0666'})})]);
    await rm(ran, {force: true});
    const {result, current} = await updateWith();
    expectRefusal(result, hook, 'root', '0666', 'is writable by all users', `chown -R root:root ${join(store, 'node_modules', NAME)} && chmod -R go-w ${join(store, 'node_modules', NAME)}`);
    expect(current).toBe('releases/v1.0.0');
    expect(await ranLines()).toEqual([]);
  });

  it('a store whose package.json others may write loads no plugin at all', async () => {
    const folder = await writePlugin(join(root, 'srv', 'health'));
    await link(folder);
    await chmod(join(store, 'package.json'), 0o664);
    const human = await runParako(['hooks', '--dir', join(root, 'no-install')], {env: storeEnv});
    expect(human.stderr).toContain(`parako: WARNING: the plugin store ${store} is not used, so no installed or linked plugin is loaded: ${join(store, 'package.json')} (owner root, mode 0664) is writable by its group`);
    const {result} = await updateWith();
    expectExit(result, 6);
    expect(await ranLines()).toEqual([]);
  });
});

describe.skipIf(missing !== false)(`the escape hatch${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it(`PARAKO_UNCHECKED_PLUGINS=1 loads the plugin and says so in every run's output`, async () => {
    const folder = await writePlugin(join(root, 'srv', 'health'));
    await chmod(folder, 0o777);
    const env = {...storeEnv, PARAKO_UNCHECKED_PLUGINS: '1'};
    const warning = 'parako: WARNING: PARAKO_UNCHECKED_PLUGINS=1 is set: plugins are loaded without checking who can change their files. Use this on a development machine only';
    expect((await link(folder, env)).stderr).toContain(warning);
    const human = await runParako(['hooks', '--dir', join(root, 'no-install')], {env});
    expect(human.stderr).toContain(warning);
    expect(human.stdout).toContain('WARNING:      PARAKO_UNCHECKED_PLUGINS=1');
    expect((await listing(env)).plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({files: 'not checked'});
    const {result} = await updateWith(env);
    expectExit(result, 0);
    expect(result.stderr).toContain(warning);
    expect(await ranLines()).toContain('health');
    // Any other value is not the switch: the check applies.
    expect((await listing({...storeEnv, PARAKO_UNCHECKED_PLUGINS: 'yes'})).notLoaded).toHaveLength(1);
  });
});

describe.skipIf(missing !== false)(`run by a user other than root${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('trusts its own files and root\'s, and refuses a plugin another user can change', async () => {
    const user = lookupUser(TEST_USER);
    const asUser = {uid: user.uid, gid: user.gid};
    // The user's own store and plugin, under root-owned folders it cannot write.
    await chmod(root, 0o755);
    await mkdir(store, {mode: 0o700});
    await chown(store, user.uid, user.gid);
    const own = await writePlugin(join(root, 'own'));
    await promisify(execFile)('chown', ['-R', `${user.uid}:${user.gid}`, own]);
    const env = {...storeEnv, HOME: store};
    await link(own, env, asUser);
    const listed = await listing(env, asUser);
    expect(listed.notLoaded).toEqual([]);
    expect(listed.plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({origin: 'linked', files: 'root-only'});

    // The same plugin owned by a third user: refused for this user too.
    await promisify(execFile)('chown', ['-R', '65534:65534', own]);
    const refused = await listing(env, asUser);
    expect(refused.notLoaded).toEqual([expect.objectContaining({plugin: NAME, refused: expect.objectContaining({path: own, why: expect.stringContaining('belongs to another user')})})]);
  });
});
