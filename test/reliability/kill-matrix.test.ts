/**
 * Kill matrix (architecture.md §2, §3): the real CLI is stopped at every point where a crash can land —
 * each phase the journal records for `update` and for `rollback`, plus half-way through the
 * download and the extraction — and killed with SIGKILL. Whatever the point:
 *   (a) `current` leads to a complete release, the old or the new one, never a missing or
 *       dangling link, and every release dir under a final name is complete;
 *   (b) `parako status` says which operation was interrupted and in which phase;
 *   (c) the next `parako update` recovers, says what it found, and ends on the latest release;
 *   (d) no staging dir, temp link, lock, journal or download is left behind.
 */
import {randomBytes} from 'node:crypto';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {freePort} from '../fixtures/app.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {exists, expectExit, history, jsonOf, parako, releaseEntries, useInstalledWorlds} from '../integration/helpers.js';
import {downloadedFiles, type ExpectedRelease, expectCurrentComplete, expectedRelease, expectNoLeftovers, killAt, useChildren} from './kill-helpers.js';

const worlds = useInstalledWorlds();
const track = useChildren();

const OLD = '1.0.0';
const NEW = '1.1.0';

interface KillPoint {
  point: string;
  /** The phase the journal names at that point (mid-download and mid-extract are inside one). */
  phase: string;
  /** Where `current` must point right after the kill. */
  killedOn: string;
  /** Where the next run's recovery leaves it, before that run updates (or finds nothing to do). */
  recoveredOn: string;
  /** What the next run's recovery does beyond reporting the interrupted run, in its words. */
  recovery?: RegExp;
  /** The new release declares a migration (with a reverse) and the update runs it. */
  migration?: true;
  /** health.url is a closed port, so the update reaches its automatic rollback. */
  unhealthy?: true;
}

/** Where the service was never restarted onto the release it was swapped to, the swap is undone. */
const reAimedAt = (version: string): RegExp => new RegExp(`current re-aimed at v${version.replaceAll('.', '\\.')} \\(the interrupted run had swapped but not restarted\\)`);
/** Once the service may run the new release (restarted, or a migration started), current stays. */
const staysOn = (version: string): RegExp => new RegExp(`current stays on v${version.replaceAll('.', '\\.')}: the run was interrupted during`);

// `parako update` v1.0.0 -> v1.1.0.
const UPDATE_POINTS: KillPoint[] = [
  {point: 'pre-download', phase: 'pre-download', killedOn: OLD, recoveredOn: OLD},
  {point: 'download', phase: 'download', killedOn: OLD, recoveredOn: OLD},
  {point: 'mid-download', phase: 'download', killedOn: OLD, recoveredOn: OLD},
  {point: 'verify', phase: 'verify', killedOn: OLD, recoveredOn: OLD},
  {point: 'post-verify', phase: 'post-verify', killedOn: OLD, recoveredOn: OLD},
  {point: 'stage', phase: 'stage', killedOn: OLD, recoveredOn: OLD},
  {point: 'mid-extract', phase: 'stage', killedOn: OLD, recoveredOn: OLD, recovery: /removed releases\/\.staging-v1\.1\.0-[0-9a-f]+/},
  {point: 'pre-swap', phase: 'pre-swap', killedOn: OLD, recoveredOn: OLD},
  {point: 'swap', phase: 'swap', killedOn: OLD, recoveredOn: OLD},
  {point: 'post-swap', phase: 'post-swap', killedOn: NEW, recoveredOn: OLD, recovery: reAimedAt(OLD)},
  {point: 'migrate', phase: 'migrate', killedOn: NEW, recoveredOn: NEW, recovery: staysOn(NEW), migration: true},
  {point: 'restart', phase: 'restart', killedOn: NEW, recoveredOn: NEW, recovery: staysOn(NEW)},
  {point: 'health', phase: 'health', killedOn: NEW, recoveredOn: NEW, recovery: staysOn(NEW)},
  // Killed as the automatic rollback starts, before it re-aims current: the health check had
  // failed, so recovery marks v1.1.0 bad and says to finish with parako rollback.
  {point: 'rollback', phase: 'rollback', killedOn: NEW, recoveredOn: NEW, recovery: /v1\.1\.0 had failed its health check and was being rolled back: it is marked bad; current stays on v1\.1\.0: run parako rollback to go back to v1\.0\.0/, unhealthy: true},
  {point: 'prune', phase: 'prune', killedOn: NEW, recoveredOn: NEW, recovery: staysOn(NEW)},
  {point: 'notify', phase: 'notify', killedOn: NEW, recoveredOn: NEW, recovery: staysOn(NEW)},
];

// `parako rollback` v1.1.0 -> v1.0.0, after an update to v1.1.0.
const ROLLBACK_POINTS: KillPoint[] = [
  {point: 'pre-swap', phase: 'pre-swap', killedOn: NEW, recoveredOn: NEW},
  {point: 'migrate', phase: 'migrate', killedOn: NEW, recoveredOn: NEW, migration: true},
  {point: 'swap', phase: 'swap', killedOn: NEW, recoveredOn: NEW},
  {point: 'post-swap', phase: 'post-swap', killedOn: OLD, recoveredOn: NEW, recovery: reAimedAt(NEW)},
  {point: 'restart', phase: 'restart', killedOn: OLD, recoveredOn: OLD, recovery: staysOn(OLD)},
  {point: 'health', phase: 'health', killedOn: OLD, recoveredOn: OLD, recovery: staysOn(OLD)},
  {point: 'notify', phase: 'notify', killedOn: OLD, recoveredOn: OLD, recovery: staysOn(OLD)},
];

describe('parako update killed with SIGKILL', () => {
  it.each(UPDATE_POINTS)('at $point: current stays complete, status reports it, the next update recovers and completes', async (kp) => {
    await killAndRecover('update', kp);
  });
});

describe('parako rollback killed with SIGKILL', () => {
  it.each(ROLLBACK_POINTS)('at $point: current stays complete, status reports it, the next update recovers and completes', async (kp) => {
    await killAndRecover('rollback', kp);
  });
});

async function killAndRecover(operation: 'update' | 'rollback', kp: KillPoint): Promise<void> {
  const {world, releases} = await worldFor(kp);
  const [from, to] = operation === 'update' ? [OLD, NEW] : [NEW, OLD];
  if (operation === 'rollback') {
    expectExit(await parako(world, ['update', ...(kp.migration ? ['--migrate'] : [])]), 0);
  }
  const args =
    operation === 'update' ? ['update', ...(kp.migration ? ['--migrate'] : [])] : ['rollback', ...(kp.migration ? ['--reverse-migration'] : [])];
  const {pid} = await killAt(world, args, kp.point, track);

  // The kill landed where it was meant to: the journal and the lock of the dead run are there.
  expect(await exists(join(world.dir, '.parako', 'state.json')), 'the journal of the killed run').toBe(true);
  expect(await exists(join(world.dir, '.parako', 'lock')), 'the lock of the killed run').toBe(true);
  await expectKilledMidway(world, kp);

  // (a)
  await expectCurrentComplete(world, kp.killedOn, releases);

  // (b) status only reads: it reports the dead run and leaves recovering it to the next writer.
  const status = await parako(world, ['status']);
  expectExit(status, 0);
  expect(status.stdout).toContain(`interrupted: ${operation} v${from} -> v${to} stopped during ${kp.phase} (pid ${pid}, started `);
  const statusJson = await parako(world, ['status', '--json']);
  expectExit(statusJson, 0);
  expect(jsonOf(statusJson)).toMatchObject({status: {current: kp.killedOn, inFlight: null, interrupted: {operation, phase: kp.phase, from, to, pid}}});
  expect(await exists(join(world.dir, '.parako', 'state.json')), 'status must not recover').toBe(true);

  // (c)
  const next = await parako(world, ['update']);
  // After a failed health check the new release is marked bad, so update to latest does not
  // install it again (exit 2, nothing changed); the rollback in (e) finishes the job.
  expectExit(next, kp.unhealthy ? 2 : 0);
  expect(next.stdout).toMatch(/took over a stale lock of pid \d+/);
  expect(next.stdout).toContain(`found an interrupted ${operation} v${from} -> v${to} (pid ${pid}, started `);
  expect(next.stdout).toContain(`during ${kp.phase}); current is v${kp.recoveredOn}`);
  if (kp.recovery !== undefined) expect(next.stdout).toMatch(kp.recovery);
  if (kp.unhealthy) expect(next.stderr).toContain(`skipped ${NEW}: failed health before`);
  else expect(next.stdout).toContain(kp.recoveredOn === NEW ? `already on v${NEW}; nothing to do` : `updated v${OLD} -> v${NEW}`);
  await expectCurrentComplete(world, NEW, releases);

  // (d)
  await expectNoLeftovers(world);
  // The run that recovered wrote the killed run's one line in the history.
  const interrupted = (await history(world)).filter((line) => line.outcome === 'interrupted');
  expect(interrupted, 'one history line for the killed run').toMatchObject([{operation, from, to, phase: kp.phase}]);

  // (e) Where recovery left the new release current, `parako rollback` (which the recovery
  // message points to) goes back to the old one, and still guards a migration that ran.
  if (operation === 'update' && kp.recoveredOn === NEW) {
    if (kp.migration) {
      const guarded = await parako(world, ['rollback']);
      expectExit(guarded, 5);
      expect(guarded.stderr).toMatch(/--reverse-migration/);
    }
    // In the unhealthy world no release answers health.url, so that rollback skips the restart.
    const back = await parako(world, ['rollback', ...(kp.migration ? ['--reverse-migration'] : []), ...(kp.unhealthy ? ['--no-restart'] : [])]);
    expectExit(back, 0);
    await expectCurrentComplete(world, OLD, releases);
  }
}

/** A world with v1.0.0 installed and v1.1.0 published, and every release it can hold. */
async function worldFor(kp: KillPoint): Promise<{world: SignedWorld; releases: ExpectedRelease[]}> {
  const config = kp.unhealthy ? {health: {url: `http://127.0.0.1:${await freePort()}/health`, timeoutSeconds: 0.5}} : {};
  const world = await worlds.installed(config);
  // Big enough that half the artifact is a real partial download, and several entries so the
  // extraction can stop at the third one with a staging dir half written.
  const files = {
    'assets/blob.txt': randomBytes(150_000).toString('base64'),
    'lib/a.js': 'export const a = 1;\n',
    'lib/b.js': 'export const b = 2;\n',
    'public/index.html': '<!doctype html><title>demo</title>\n',
  };
  const migration = kp.migration ? {command: 'true', reverse: 'true'} : null;
  const published = await world.publish({version: NEW, files, migration});
  return {world, releases: [expectedRelease(world.app, OLD), expectedRelease(world.app, NEW, published.manifest, files)]};
}

/** The pause points inside a phase really stopped half-way through it. */
async function expectKilledMidway(world: SignedWorld, kp: KillPoint): Promise<void> {
  if (kp.point === 'mid-download') {
    const size = world.feed.generatedIndex().releases.find((r) => r.version === NEW)!.size;
    const partial = (await downloadedFiles(world)).filter((file) => file.name.endsWith('.tar.gz'));
    expect(partial, 'one partial artifact').toHaveLength(1);
    expect(partial[0]!.size).toBeGreaterThanOrEqual(size / 2);
    expect(partial[0]!.size).toBeLessThan(size);
  }
  if (kp.point === 'mid-extract') {
    const entries = await releaseEntries(world);
    expect(entries.filter((name) => name.startsWith('.staging-v1.1.0-')), 'a half-written staging dir').toHaveLength(1);
    expect(entries).not.toContain(`v${NEW}`);
  }
}
