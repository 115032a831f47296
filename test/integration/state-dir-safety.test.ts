/**
 * parako writes its lock, journal, history and log as root into `.parako/` of the install dir.
 * A `.parako` that another user planted (a symlink to a folder of theirs, or a folder they own
 * or may write) is refused before anything is written through it.
 */
import {execFileSync} from 'node:child_process';
import {chmod, chown, mkdir, readdir, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {lookupUser} from '../../src/core/exec.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';
import {currentTarget, expectExit, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const missing = testUserMissing();
const worlds = useInstalledWorlds();

/** Runs a shell script as the test user: another local user, the way the app user would. */
function asTestUser(script: string, ...args: string[]): void {
  const {uid, gid} = lookupUser(TEST_USER);
  execFileSync('sh', ['-c', script, 'sh', ...args], {uid, gid, cwd: '/'});
}

describe.skipIf(missing !== false)(`an unsafe .parako is refused${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('.parako planted as a symlink by the user who may write the install dir is refused (exit 5) and nothing is written through it', async () => {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const user = lookupUser(TEST_USER);
    await chmod(world.root, 0o711);
    await chown(world.dir, user.uid, user.gid); // an install dir the app user may write
    const theirs = join(world.root, 'theirs');
    await mkdir(theirs);
    await chown(theirs, user.uid, user.gid);
    await rm(join(world.dir, '.parako'), {recursive: true});
    asTestUser('ln -s "$1" "$2/.parako"', theirs, world.dir);

    const result = await parako(world, ['update', '--json']);
    expect(await readdir(theirs), 'no lock, log or history written through the link').toEqual([]);
    expectExit(result, 5);
    expect(jsonOf(result)).toMatchObject({code: 5, reason: 'refused'});
    expect(String(jsonOf(result).message)).toContain(`${join(world.dir, '.parako')} is a symlink (to ${theirs}), not a folder of parako's own; nothing was written through it`);
    expect(String(jsonOf(result).next)).toContain(`rm ${join(world.dir, '.parako')}`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a .parako folder that another user owns is refused (exit 5), naming its owner and mode', async () => {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const state = join(world.dir, '.parako');
    const user = lookupUser(TEST_USER);
    await chown(state, user.uid, user.gid);
    const before = (await readdir(state)).sort();

    const result = await parako(world, ['update']);
    expectExit(result, 5);
    expect(result.stderr).toContain(`${state} (owner ${TEST_USER}, mode 0700) belongs to another user`);
    expect(result.stderr).toContain(`next: chown root:root ${state} && chmod 0700 ${state}`);
    expect((await readdir(state)).sort()).toEqual(before);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a group-writable .parako is refused (exit 5) by prune too', async () => {
    const world = await worlds.installed();
    const state = join(world.dir, '.parako');
    await chmod(state, 0o770);
    const result = await parako(world, ['prune']);
    expectExit(result, 5);
    expect(result.stderr).toContain(`${state} (owner root, mode 0770) is writable by its group`);
  });
});
