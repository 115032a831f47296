/**
 * The hook points of DESIGN §6 through a real oclif plugin linked into the real CLI: each
 * point runs in pipeline order with the documented context, a gating veto stops the run
 * before anything changes, and notify never changes the outcome (DESIGN §7).
 */
import {rm} from 'node:fs/promises';

import {describe, expect, it} from 'vitest';

import {makeRecordingPlugin} from '../fixtures/plugin.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, expectUnchanged, jsonOf, parako, snapshotInstall, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();
let world: SignedWorld;

async function installedWorld(config: Record<string, unknown> = {}): Promise<void> {
  world = await worlds.make();
  await world.writeConfig(config);
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update']), 0);
  await world.publish({version: '1.1.0', migration: {command: 'true'}});
}

describe('hook points', () => {
  it('an update runs every point in pipeline order with the documented context', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root);
    expectExit(await parako(world, ['update'], {env: plugin.env}), 0);
    const calls = await plugin.calls();
    expect(calls.map((c) => c.point)).toEqual(['pre-download', 'post-verify', 'pre-swap', 'post-swap', 'restart', 'health', 'notify']);
    for (const call of calls) {
      expect(call).toMatchObject({plugin: plugin.name, operation: 'update', dryRun: false, app: 'demo-app', dir: world.dir, from: '1.0.0', to: '1.1.0'});
      expect(call.toPath).toBe(`${world.dir}/releases/v1.1.0`);
    }
    expect(calls[0]!.manifestVersion).toBeNull(); // pre-download: nothing verified yet
    expect(calls[1]!.manifestVersion).toBe('1.1.0'); // post-verify: release.json is known
    expect(calls.find((c) => c.point === 'pre-swap')?.backupWanted).toBe(true); // the release migrates
    expect(calls.at(-1)?.outcome).toEqual({outcome: 'updated', code: 0});
  });

  it('a rollback runs pre-swap, post-swap, restart, health and notify', async () => {
    await installedWorld();
    expectExit(await parako(world, ['update']), 0);
    const plugin = await makeRecordingPlugin(world.root);
    expectExit(await parako(world, ['rollback'], {env: plugin.env}), 0);
    const calls = await plugin.calls();
    expect(calls.map((c) => c.point)).toEqual(['pre-swap', 'post-swap', 'restart', 'health', 'notify']);
    expect(calls[0]).toMatchObject({operation: 'rollback', from: '1.1.0', to: '1.0.0'});
    expect(calls.at(-1)?.outcome).toEqual({outcome: 'rolled-back', code: 0});
  });

  it('a dry run runs pre-download and post-verify only, with dryRun set', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root);
    expectExit(await parako(world, ['update', '--dry-run'], {env: plugin.env}), 0);
    const calls = await plugin.calls();
    expect(calls.map((c) => [c.point, c.dryRun])).toEqual([['pre-download', true], ['post-verify', true]]);
  });

  it('a pre-swap veto exits 6 naming the plugin and its message, leaves current untouched, and notify still runs', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-window', {'pre-swap': {veto: 'outside the maintenance window'}});
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update', '--json'], {env: plugin.env});
    expectExit(result, 6);
    expect(jsonOf(result)).toMatchObject({code: 6, reason: 'hook', from: '1.0.0', to: '1.1.0'});
    expect(String(jsonOf(result).message)).toContain('pre-swap hook of parako-plugin-window vetoed: outside the maintenance window');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    // The release staged before the veto is removed again; only the releases/ dir's own mtime moved.
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
    const points = (await plugin.calls()).map((c) => c.point);
    expect(points).toEqual(['pre-download', 'post-verify', 'pre-swap', 'notify']);
    expect((await plugin.calls()).at(-1)?.outcome).toEqual({outcome: 'failed', code: 6});
  });

  it('a hook that hangs is stopped at its timeout and fails the phase', async () => {
    await installedWorld({hooks: {timeoutSeconds: {'pre-download': 1}}});
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-slow', {'pre-download': {hang: true}});
    const started = Date.now();
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.stderr).toContain('pre-download hook of parako-plugin-slow did not finish within 1 s');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a throwing notify hook does not change the exit code', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-pager', {notify: {throw: 'pager service down'}});
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('a plugin the store lists but that cannot be loaded stops an update before anything changes (exit 6)', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-gone');
    await rm(plugin.root, {recursive: true, force: true});
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expect(result.stderr).toContain('plugin parako-plugin-gone (link');
    expect(result.stderr).toContain('could not be loaded');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectUnchanged(world, before);
  });

  it('plugins of one point run one after another, in name order unless hooks.order says otherwise', async () => {
    await installedWorld();
    const b = await makeRecordingPlugin(world.root, 'parako-plugin-b');
    const a = await makeRecordingPlugin(world.root, 'parako-plugin-a');
    const env = {...a.env, ...b.env};
    expectExit(await parako(world, ['update', '--dry-run'], {env}), 0);
    const order = async () => [...(await a.calls()), ...(await b.calls())];
    const first = await order();
    expect(first.filter((c) => c.point === 'pre-download').map((c) => c.plugin).sort()).toEqual(['parako-plugin-a', 'parako-plugin-b']);
    // Both record to their own file; the run order shows in the log of the real run below.
    await world.writeConfig({hooks: {order: ['parako-plugin-b']}});
    const result = await parako(world, ['update', '--dry-run', '--log-level', 'info'], {env});
    expectExit(result, 0);
    const starts = result.stderr
      .split('\n')
      .filter((line) => line.includes('"hook start"') && line.includes('"pre-download"'))
      .map((line) => (JSON.parse(line) as {plugin: string}).plugin);
    expect(starts).toEqual(['parako-plugin-b', 'parako-plugin-a']);
  });
});
