/**
 * What Ctrl-C or `systemctl stop` (SIGINT/SIGTERM) does to a running update or rollback
 * (architecture.md §3.4: signals are honoured up to the swap; after it the operation finishes). The real
 * CLI is paused at each point with PARAKO_TEST_PAUSE_AT, sent SIGTERM, and lets the signal
 * take its course: before the swap it must stop with exit 1 and leave the install dir as it
 * was; from the swap on it must finish, because the service may already run the new code.
 *
 * `mid-extract` has its own case: the extraction is synchronous slice by slice, and a signal
 * must still stop it within a second, not when the whole archive is written.
 */
import {randomBytes} from 'node:crypto';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';

import {describe, expect, it} from 'vitest';

import type {ParakoProcess} from '../fixtures/cli.js';
import {makeRecordingPlugin} from '../fixtures/plugin.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, currentVersionFile, exists, expectExit, expectUnchanged, explain, history, parako, snapshotInstall, spawnInWorld, useInstalledWorlds} from '../integration/helpers.js';
import {expectNoLeftovers, useChildren} from './kill-helpers.js';

const worlds = useInstalledWorlds();
const track = useChildren();

/** ~200 KB that gzip cannot shrink, so `mid-download` falls inside the body. */
const bulk = (): Record<string, string> => ({'assets/blob.txt': randomBytes(150_000).toString('base64')});

/** Starts `args` paused at `point`, sends SIGTERM, and returns how it ended. */
async function signalledAt(world: SignedWorld, args: string[], point: string): Promise<Awaited<ParakoProcess['result']>> {
  const child = track(spawnInWorld(world, args, {env: {PARAKO_TEST_PAUSE_AT: point}}));
  await child.waitForOutput(new RegExp(`PARAKO_TEST_PAUSED_AT ${point}\\b`));
  child.kill('SIGTERM');
  const result = await child.result;
  expect(result.signal, explain(result)).toBeNull();
  expect(result.stderr).toContain('SIGTERM received: stopping at the next safe point');
  return result;
}

describe('a signal before the swap stops an update with nothing changed', () => {
  it.each(['pre-download', 'download', 'mid-download', 'verify', 'post-verify', 'stage', 'pre-swap'])('SIGTERM at %s: exit 1, current on the old release, install dir unchanged', async (point) => {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0', files: bulk()});
    const before = await snapshotInstall(world);
    const result = await signalledAt(world, ['update'], point);
    expectExit(result, 1);
    expect(result.stderr).toMatch(/interrupted|aborted/i);
    expect(result.stderr).toMatch(/current is still v1\.0\.0/);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
    await expectNoLeftovers(world);
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', outcome: 'failed', code: 1, from: '1.0.0', to: '1.1.0'});
    // Nothing is left for the next run to recover, and it completes.
    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout).not.toMatch(/interrupted/);
    expect(await currentVersionFile(world)).toBe('1.1.0');
  });
});

describe('a signal during the extraction', () => {
  it('SIGTERM at mid-extract of 20,000 files: exit 1 within a second, nothing staged left, current unchanged', async () => {
    const world = await worlds.installed();
    const files = Object.fromEntries(Array.from({length: 20_000}, (_, i) => [`lib/m${Math.floor(i / 500)}/f${i}.js`, `export const v = ${i};\n`]));
    await world.publish({version: '1.1.0', files});
    const before = await snapshotInstall(world);
    const child = track(spawnInWorld(world, ['update'], {env: {PARAKO_TEST_PAUSE_AT: 'mid-extract'}}));
    await child.waitForOutput(/PARAKO_TEST_PAUSED_AT mid-extract\b/);
    const signalledAt = performance.now();
    child.kill('SIGTERM');
    const result = await child.result;
    const exitMs = performance.now() - signalledAt;
    expectExit(result, 1);
    expect(exitMs, `exit ${Math.round(exitMs)} ms after the signal`).toBeLessThan(1000);
    expect(result.stderr).toMatch(/staging v1\.1\.0 interrupted; the staging dir was removed; current is still v1\.0\.0/);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
    await expectNoLeftovers(world);
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', outcome: 'failed', code: 1, from: '1.0.0', to: '1.1.0'});
    // Nothing for the next run to recover: status names no interrupted run.
    expect((await parako(world, ['status'])).stdout).not.toMatch(/^interrupted:/m);
  });
});

describe('a signal from the swap on lets the update finish', () => {
  it.each(['swap', 'post-swap', 'restart', 'health', 'prune', 'notify'])('SIGTERM at %s: exit 0, current on the new release', async (point) => {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const result = await signalledAt(world, ['update'], point);
    expectExit(result, 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await currentVersionFile(world)).toBe('1.1.0');
    await expectNoLeftovers(world);
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', outcome: 'updated', code: 0});
  });
});

describe('rollback under a signal', () => {
  async function updatedWorld(): Promise<SignedWorld> {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    expectExit(await parako(world, ['update']), 0);
    return world;
  }

  it('SIGTERM at pre-swap: exit 1, current stays on the release being left, install dir unchanged', async () => {
    const world = await updatedWorld();
    const before = await snapshotInstall(world);
    const result = await signalledAt(world, ['rollback'], 'pre-swap');
    expectExit(result, 1);
    expect(result.stderr).toMatch(/interrupted before the rollback; nothing was changed/);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectUnchanged(world, before);
    await expectNoLeftovers(world);
    expectExit(await parako(world, ['rollback']), 0);
    expect(await currentVersionFile(world)).toBe('1.0.0');
  });

  it.each(['swap', 'post-swap', 'restart', 'health', 'notify'])('SIGTERM at %s: the rollback finishes, exit 0', async (point) => {
    const world = await updatedWorld();
    const result = await signalledAt(world, ['rollback'], point);
    expectExit(result, 0);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectNoLeftovers(world);
    expect((await history(world)).at(-1)).toMatchObject({operation: 'rollback', outcome: 'rolled-back', code: 0});
  });
});

describe('a second signal', () => {
  it('exits 130 at once, even inside a hook that hangs after the swap, and the next run recovers', async () => {
    const world = await worlds.installed();
    await world.publish({version: '1.1.0'});
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-stuck', {'post-swap': {hang: true}});
    const child = track(spawnInWorld(world, ['update'], {env: plugin.env}));
    await child.waitForOutput(/current -> releases\/v1\.1\.0/);
    // Signalled once the hook really hangs, so the journal says post-swap.
    const deadline = Date.now() + 20_000;
    while (!(await plugin.calls()).some((call) => call.point === 'post-swap')) {
      if (Date.now() > deadline) throw new Error('the post-swap hook never ran');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // After the swap the first signal is noted and the run goes on (into the hanging hook) ...
    child.kill('SIGTERM');
    await child.waitForOutput(/SIGTERM received: stopping at the next safe point \(again to force\)/);
    expect(child.exitCode).toBeNull();
    // ... the second one is the operator insisting: out at once, like a kill.
    child.kill('SIGTERM');
    const result = await child.result;
    expectExit(result, 130);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await exists(join(world.dir, '.parako', 'state.json')), 'the journal of the forced exit').toBe(true);

    const status = await parako(world, ['status']);
    expectExit(status, 0);
    expect(status.stdout).toMatch(/interrupted: update v1\.0\.0 -> v1\.1\.0 stopped during post-swap/);
    // The service was never restarted onto v1.1.0: recovery re-aims current, then the update completes.
    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout).toMatch(/current re-aimed at v1\.0\.0 \(the interrupted run had swapped but not restarted\)/);
    expect(await currentVersionFile(world)).toBe('1.1.0');
    await expectNoLeftovers(world);
  });
});
