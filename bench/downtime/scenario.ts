/**
 * What every downtime scenario shares: a real signed feed with two releases (a temp dir, a
 * feed server on 127.0.0.1, artifacts signed with a fresh key that the install verifies), the
 * built CLI run against the install dir, and the cycles measured under load:
 * `parako update --version <new>` then `parako rollback`, each expected to exit 0.
 */
import {readFile, writeFile} from 'node:fs/promises';
import {loadavg} from 'node:os';

import {runParako} from '../../test/fixtures/cli.js';
import type {ReleaseSpec} from '../../test/fixtures/release.js';
import {generateTestKeyPair} from '../../test/fixtures/sigstore.js';
import {makeWorld, type World} from '../../test/fixtures/world.js';

export {waitForVersion} from '../../test/fixtures/answers.js';
import {signFileWithKey} from '../artifacts.js';
import type {DowntimeRow, Measurement, measure as measureFn} from './measure.js';

export interface DowntimeOptions {
  quick: boolean;
  /** update + rollback cycles per scenario under one load. */
  cycles: number;
  measure: typeof measureFn;
  ratePerSecond: number;
  /** Progress for the person waiting (stderr). */
  progress(message: string): void;
}

/** A row of the table with the measurement behind it (written to the JSON). */
export interface ScenarioResult {
  row: DowntimeRow;
  measurement: Measurement;
  /** What the scenario ran, for the JSON: the supervisor's settings, the app. */
  setup: Record<string, unknown>;
  /**
   * The machine's 1-minute load average before and after the measured cycles (others' work
   * shows here), and the listen-queue overflows during them (machine-wide; undefined when unknown).
   */
  loadAverage: {before: number; after: number; listenOverflows?: number};
}

/**
 * Clean-ups of what is running right now (a pm2 daemon, a compose project, a world), so that
 * Ctrl-C leaves nothing behind: run.ts runs them on SIGINT. A scenario registers each as it
 * starts it and removes it again once its `finally` has run it.
 */
export const running = new Set<() => Promise<void>>();

/** Runs `body` with `cleanup` registered for Ctrl-C, and runs `cleanup` after it either way. */
export async function withCleanup<T>(cleanup: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  running.add(cleanup);
  try {
    return await body();
  } finally {
    running.delete(cleanup);
    await cleanup();
  }
}

export const OLD_VERSION = '1.0.0';
export const NEW_VERSION = '1.1.0';

/** A world whose feed serves both releases, signed with a key the install verifies. */
export async function signedFeed(releases: ReleaseSpec[]): Promise<World> {
  const key = generateTestKeyPair();
  const world = await makeWorld({sign: (file) => signFileWithKey(file, key)});
  try {
    await writeFile(world.keyFile, key.publicKeyPem);
    for (const release of releases) await world.publish(release);
    return world;
  } catch (error) {
    await world.cleanup();
    throw error;
  }
}

/** `parako <args> --dir <install dir>`; throws with its output unless it exits 0. */
export async function parako(world: World, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await runParako([...args, '--dir', world.dir], {env, timeoutMs: 180_000});
  if (result.code !== 0) throw new Error(`parako ${args.join(' ')} exited ${result.code}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`);
  return result.stdout;
}

/** The measured part: `cycles` × (update to the new release, rollback to the old) under load. */
export async function measureCycles(
  world: World,
  url: string,
  opts: DowntimeOptions,
  env: Record<string, string> = {},
): Promise<{measurement: Measurement; loadAverage: ScenarioResult['loadAverage']}> {
  const before = loadavg()[0] ?? 0;
  const overflowsBefore = await listenOverflows();
  const measurement = await opts.measure(
    url,
    async () => {
      for (let cycle = 1; cycle <= opts.cycles; cycle++) {
        opts.progress(`  cycle ${cycle}/${opts.cycles}: parako update --version ${NEW_VERSION}, then parako rollback`);
        await parako(world, ['update', '--version', NEW_VERSION], env);
        await parako(world, ['rollback'], env);
      }
    },
    {ratePerSecond: opts.ratePerSecond},
  );
  const overflowsAfter = await listenOverflows();
  const overflows = overflowsBefore === undefined || overflowsAfter === undefined ? {} : {listenOverflows: overflowsAfter - overflowsBefore};
  return {measurement, loadAverage: {before, after: loadavg()[0] ?? 0, ...overflows}};
}

export function row(supervisor: string, mode: string, cycles: number, m: Measurement): DowntimeRow {
  return {supervisor, mode, cycles, sent: m.sent, failed: m.failed, failures: m.failures, p99Ms: m.p99Ms, windowMs: m.windowMs, outageMs: m.outageMs};
}

/**
 * The kernel's count of connections dropped because a listen queue was full (TcpExt
 * ListenOverflows in /proc/net/netstat), machine-wide. A dropped SYN is sent again after 1 s,
 * so these show up as answers that took a second or more.
 */
export async function listenOverflows(): Promise<number | undefined> {
  try {
    const lines = (await readFile('/proc/net/netstat', 'utf8')).split('\n').filter((line) => line.startsWith('TcpExt:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const value = Number(values[names.indexOf('ListenOverflows')]);
    return names.includes('ListenOverflows') && Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined; // not Linux, or no procfs: the report says unknown
  }
}
