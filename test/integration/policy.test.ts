/**
 * The host's update policy through the real CLI (`updates` in parako.json; docs/operations.md,
 * "Unattended updates"): a channel picks within a semver range, a hold keeps the host where it
 * is, `parako check` tells a monitor whether an update is waiting (exit 9) and what it goes
 * over, and `update --unattended` refuses breaking changes and migrations unless the policy
 * lets it install them.
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, history, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const worlds = useInstalledWorlds();

/** A world with v1.0.0 installed and `updates` as its policy. */
function installed(updates?: Record<string, unknown>): Promise<SignedWorld> {
  return worlds.installed(updates === undefined ? {} : {updates});
}

/** The feed's generated index with display hints added to some releases, as a publisher may write them. */
async function addHints(w: SignedWorld, hints: Record<string, {migration?: boolean; breaking?: string[]; notes?: string}>): Promise<void> {
  const index = w.feed.generatedIndex();
  await w.feed.setIndex({...index, releases: index.releases.map((release) => ({...release, ...hints[release.version]}))});
}

describe('updates.channel', () => {
  it('update picks the newest release within the channel, and an exact version outside it is refused with exit 5', async () => {
    const w = await installed({channel: '~1.0'});
    for (const version of ['1.0.1', '1.1.0', '2.0.0']) await w.publish({version});
    const outside = await parako(w, ['update', '--version', '2.0.0']);
    expectExit(outside, 5);
    expect(outside.stderr).toContain('v2.0.0 is outside the channel "~1.0" this host follows (updates.channel in parako.json)');
    expect(await currentTarget(w)).toBe('releases/v1.0.0');
    expectExit(await parako(w, ['update']), 0);
    expect(await currentTarget(w)).toBe('releases/v1.0.1');
  });
});

describe('updates.hold', () => {
  it('keeps the host where it is: update exits 0 and says why, a named version is refused, check reports the waiting release', async () => {
    const w = await installed({hold: 'frozen for the audit until Friday'});
    await w.publish({version: '1.1.0'});
    const held = await parako(w, ['update', '--json']);
    expectExit(held, 0);
    expect(jsonOf(held)).toMatchObject({outcome: 'held', message: 'held (updates.hold: frozen for the audit until Friday); current stays on v1.0.0, nothing was changed'});
    const named = await parako(w, ['update', '--version', '1.1.0']);
    expectExit(named, 5);
    expect(named.stderr).toContain('this host is held (updates.hold: frozen for the audit until Friday)');
    const checked = await parako(w, ['check', '--json']);
    expectExit(checked, 0);
    expect(jsonOf(checked)).toMatchObject({outcome: 'held', to: '1.1.0', held: 'updates.hold: frozen for the audit until Friday'});
    expect(await currentTarget(w)).toBe('releases/v1.0.0');
    expect((await history(w)).map((line) => line.outcome)).toEqual(['installed']);
  });
});

describe('parako check', () => {
  it('exits 0 when up to date, and 9 with every release an update goes over, their migrations, breaking changes and notes', async () => {
    const w = await installed();
    const current = await parako(w, ['check', '--json']);
    expectExit(current, 0);
    expect(jsonOf(current)).toMatchObject({outcome: 'up-to-date', from: '1.0.0', available: []});
    await w.publish({version: '1.1.0'});
    await w.publish({version: '1.2.0'});
    await w.publish({version: '1.3.0-rc.1'});
    await addHints(w, {'1.1.0': {migration: true, notes: 'adds the tokens table'}, '1.2.0': {breaking: ['the /v1 API is gone'], notes: 'v2 API'}});
    const human = await parako(w, ['check']);
    expectExit(human, 9);
    expect(human.stdout).toContain('v1.1.0  migration\n      adds the tokens table\n  v1.2.0  BREAKING\n      breaking: the /v1 API is gone\n      v2 API');
    expect(human.stderr).toContain('v1.2.0 is available (current v1.0.0); an unattended update would refuse it');
    const json = jsonOf(await parako(w, ['check', '--json']));
    expect(json).toMatchObject({
      code: 9,
      outcome: 'update-available',
      from: '1.0.0',
      to: '1.2.0',
      available: [
        {version: '1.1.0', migration: true, breaking: [], notes: 'adds the tokens table'},
        {version: '1.2.0', migration: false, breaking: ['the /v1 API is gone'], notes: 'v2 API'},
      ],
    });
    expect(String(json.unattendedRefusal)).toContain('v1.2.0 has breaking changes (the /v1 API is gone); v1.1.0 migrates the database');
    expect(await currentTarget(w)).toBe('releases/v1.0.0');
  });
});

describe('update --unattended', () => {
  it('refuses a release that migrates, before downloading it, unless updates.unattended.migrations allows it; then it runs the migration', async () => {
    const w = await installed();
    await w.publish({version: '1.1.0', migration: {command: 'echo migrated > ../../migrated.txt'}});
    await addHints(w, {'1.1.0': {migration: true}});
    const refused = await parako(w, ['update', '--unattended', '--json']);
    expectExit(refused, 5);
    expect(jsonOf(refused).message).toBe('unattended update refused: v1.1.0 migrates the database, according to the feed index; an update without a person does not install that');
    expect(String(jsonOf(refused).next)).toContain('setting updates.unattended.migrations to true');
    expect(await currentTarget(w)).toBe('releases/v1.0.0');
    expect(w.feed.requests.filter((r) => r.path.endsWith('.tar.gz'))).toEqual([]);

    await w.writeConfig({updates: {unattended: {migrations: true}}});
    expectExit(await parako(w, ['update', '--unattended']), 0);
    expect(await currentTarget(w)).toBe('releases/v1.1.0');
    expect(await readFile(join(w.dir, 'migrated.txt'), 'utf8')).toBe('migrated\n');
  });

  it('decides with the signed release.json when the index says nothing: breaking changes are refused after the verification, nothing is changed', async () => {
    const w = await installed();
    await w.publish({version: '1.1.0', breaking: ['config keys renamed']});
    const refused = await parako(w, ['update', '--unattended']);
    expectExit(refused, 5);
    expect(refused.stderr).toContain('unattended update refused: v1.1.0 has breaking changes (config keys renamed), according to its signed release.json');
    expect(await currentTarget(w)).toBe('releases/v1.0.0');

    await w.writeConfig({updates: {unattended: {breaking: true}}});
    const accepted = await parako(w, ['update', '--unattended']);
    expectExit(accepted, 0);
    expect(accepted.stdout).not.toContain('install it?');
    expect(await currentTarget(w)).toBe('releases/v1.1.0');
  });

  it('in a dry run says what an unattended run would do, and names the versions it goes over', async () => {
    const w = await installed();
    await w.publish({version: '1.1.0', migration: {command: 'true'}});
    await w.publish({version: '1.2.0'});
    await addHints(w, {'1.1.0': {migration: true}});
    const dry = await parako(w, ['update', '--dry-run', '--unattended']);
    expectExit(dry, 0);
    expect(dry.stdout).toContain('goes over (as the feed index says; unsigned): v1.1.0 (migration)');
    expect(dry.stdout).toContain('unattended: would refuse it: v1.1.0 migrates the database, according to the feed index');
  });
});

describe('the dry run of a first install', () => {
  it('says "would install", not "would update (fresh install)"', async () => {
    const world = await worlds.make();
    await world.writeConfig();
    await world.publish({version: '1.0.0'});
    const dry = await parako(world, ['update', '--dry-run', '--json']);
    expectExit(dry, 0);
    expect(jsonOf(dry).message).toBe('would install v1.0.0');
  });
});
