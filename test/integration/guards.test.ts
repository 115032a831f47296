/**
 * The refusals that keep an operator from being surprised: breaking changes are never
 * installed unattended, a migration is printed unless --migrate, and rollback never moves
 * code across a migration the database has not been through (architecture.md §8, §3.6).
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {SignedWorld} from '../fixtures/signed-world.js';
import {makeRecordingPlugin} from '../fixtures/plugin.js';
import {currentTarget, exists, expectExit, expectUnchanged, history, jsonOf, parako, snapshotInstall, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();
let world: SignedWorld;

async function installed(): Promise<void> {
  world = await worlds.make();
  await world.writeConfig();
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update']), 0);
}

describe('breaking changes', () => {
  it('are not installed unattended without --yes (exit 5, nothing changed), and are with it', async () => {
    await installed();
    await world.publish({version: '1.1.0', breaking: ['the /v1/tokens endpoint is removed']});
    const before = await snapshotInstall(world);
    const refused = await parako(world, ['update']);
    expectExit(refused, 5);
    expect(refused.stdout).toContain('the /v1/tokens endpoint is removed');
    expect(refused.stderr).toContain('--yes');
    await expectUnchanged(world, before);
    expectExit(await parako(world, ['update', '--yes']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });
});

describe('migrations', () => {
  it('are printed, not run, without --migrate', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'touch MIGRATED'}});
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(result.stdout).toContain('touch MIGRATED');
    expect(result.stdout).toContain('--migrate');
    expect(await exists(join(world.dir, 'current', 'MIGRATED'))).toBe(false);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', migrationRan: false});
  });

  it('run in current with --migrate, and a failing one re-aims current back with exit 6', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'pwd > MIGRATED_IN'}});
    expectExit(await parako(world, ['update', '--migrate']), 0);
    // The migration's working directory is current, which resolves to the new release.
    expect(await readFile(join(world.dir, 'releases', 'v1.1.0', 'MIGRATED_IN'), 'utf8')).toContain(join('releases', 'v1.1.0'));
    await world.publish({version: '1.2.0', migration: {command: 'echo schema locked >&2; exit 3'}});
    const failed = await parako(world, ['update', '--migrate', '--json']);
    expectExit(failed, 6);
    expect(jsonOf(failed)).toMatchObject({code: 6, reason: 'migration', from: '1.1.0', to: '1.2.0'});
    expect(String(jsonOf(failed).message)).toContain('schema locked');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await exists(join(world.dir, 'releases', 'v1.2.0'))).toBe(false);
  });

  it('rollback over a migration is refused without flags, --reverse-migration runs the reverse first, and history tells the story', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'true', reverse: 'touch REVERSED'}});
    expectExit(await parako(world, ['update', '--migrate']), 0);
    const before = await snapshotInstall(world);
    const refused = await parako(world, ['rollback']);
    expectExit(refused, 5);
    expect(refused.stderr).toContain('--reverse-migration');
    expect(refused.stderr).toContain('--force');
    await expectUnchanged(world, before);
    expectExit(await parako(world, ['rollback', '--reverse-migration']), 0);
    expect(await exists(join(world.dir, 'releases', 'v1.1.0', 'REVERSED'))).toBe(true);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'rollback', from: '1.1.0', to: '1.0.0', outcome: 'rolled-back'});
  });

  it('rollback --force goes back over a migration the operator reverted by hand, without running any reverse', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'true', reverse: 'touch REVERSED'}});
    expectExit(await parako(world, ['update', '--migrate']), 0);
    expectExit(await parako(world, ['rollback']), 5);
    expectExit(await parako(world, ['rollback', '--force']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(join(world.dir, 'releases', 'v1.1.0', 'REVERSED'))).toBe(false);
    const last = (await history(world)).at(-1);
    expect(last).toMatchObject({operation: 'rollback', from: '1.1.0', to: '1.0.0', outcome: 'rolled-back'});
  });

  it('rollback forward onto a release whose migration the database does not have is refused without --force', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'true', reverse: 'true'}});
    expectExit(await parako(world, ['update', '--migrate']), 0);
    expectExit(await parako(world, ['rollback', '--reverse-migration']), 0);
    const forward = await parako(world, ['rollback', '--to', 'v1.1.0']);
    expectExit(forward, 5);
    expect(forward.stderr).toContain('parako update --version 1.1.0 --migrate');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expectExit(await parako(world, ['rollback', '--to', 'v1.1.0', '--force']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('an unhealthy release whose migration ran without a reverse is NOT rolled back: exit 8, current stays', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'true'}});
    const health = await makeRecordingPlugin(world.root, 'parako-plugin-probe', {health: {veto: 'the new schema is not served'}});
    const result = await parako(world, ['update', '--migrate', '--json'], {env: health.env});
    expectExit(result, 8);
    expect(jsonOf(result)).toMatchObject({code: 8, outcome: 'unhealthy', migrationRan: true});
    expect(String(jsonOf(result).message)).toContain('NOT rolled back');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('an automatic rollback prints its reason once, at the end; when the old release fails too, exit 8 says both are unhealthy', async () => {
    await installed();
    await world.publish({version: '1.1.0'});
    const once = await makeRecordingPlugin(world.root, 'parako-plugin-probe', {health: {veto: 'the queue is not drained', onlyFor: '1.1.0'}});
    const rolledBack = await parako(world, ['update'], {env: once.env});
    expectExit(rolledBack, 7);
    expect(rolledBack.stdout).toContain('v1.1.0 is unhealthy; rolling back to v1.0.0\nrolled back: current -> releases/v1.0.0');
    expect(`${rolledBack.stdout}${rolledBack.stderr}`.split('the queue is not drained').length - 1).toBe(1);

    await world.publish({version: '1.2.0'});
    const both = await makeRecordingPlugin(world.root, 'parako-plugin-probe-all', {health: {veto: 'the database is down'}});
    const result = await parako(world, ['update', '--version', '1.2.0'], {env: both.env});
    expectExit(result, 8);
    expect(result.stderr).toContain('parako: BOTH RELEASES ARE UNHEALTHY. v1.2.0 was unhealthy (health hook of parako-plugin-probe-all vetoed: the database is down); parako rolled back to v1.0.0, and v1.0.0 is unhealthy too');
    expect(result.stdout).not.toMatch(/healthy: /);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('an unhealthy release whose migration declares a reverse is reversed and rolled back: exit 7', async () => {
    await installed();
    await world.publish({version: '1.1.0', migration: {command: 'true', reverse: 'touch REVERSED'}});
    const health = await makeRecordingPlugin(world.root, 'parako-plugin-probe', {health: {veto: 'the new schema is not served', onlyFor: '1.1.0'}});
    const result = await parako(world, ['update', '--migrate'], {env: health.env});
    expectExit(result, 7);
    expect(await exists(join(world.dir, 'releases', 'v1.1.0', 'REVERSED'))).toBe(true);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    // The health hook ran twice: on the new release, then on the one rolled back to, which passed.
    expect((await health.calls()).filter((c) => c.point === 'health').map((c) => c.to)).toEqual(['1.1.0', '1.0.0']);
  });
});
