/**
 * What an update costs the app's clients: measure(url, during) sends a steady load from a
 * separate process (load.ts), lets it run a baseline, runs `during` (parako update, then
 * rollback, N times), stops the load and reads the records.
 *
 * Definitions (docs/supervisors.md#zero-downtime repeats them for the reader):
 * - sent, failed: the requests sent from the moment `during` starts until `tailMs` after it
 *   ends (the baseline before it is not counted; its requests must all succeed).
 * - a request is *disturbed* when it failed (refused, reset, timeout, 5xx, other) or took
 *   longer than slowMs = max(5 × the baseline's p99, 100 ms). The floor keeps the CPU that
 *   parako's own start-up takes on a small machine from counting as a restart.
 * - a *restart window* runs from the start of the first disturbed request to the end of the
 *   last one of a run of disturbed requests less than 1 s apart (an update and its rollback are
 *   seconds apart, so each restart gets its own window). windowMs is the longest of them; 0
 *   when no request was disturbed. Its resolution is the interval between two requests.
 * - an *outage* is the same, counting failed requests only: how long clients got errors, not
 *   counting slow answers. outageMs is the longest; 0 when nothing failed. On a busy machine
 *   slow answers come from other work too, so the outage is the figure less prone to noise.
 * - p99Ms: the 99th percentile latency of the requests answered while `during` ran, the
 *   restarts included (failed requests are counted in `failed`, not here).
 */
import {type ChildProcess, spawn} from 'node:child_process';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';

import {cleanEnv, repoRoot} from '../../test/fixtures/cli.js';
import {type LoadMessage, type LoadOptions, type LoadReport, type RequestRecord, loopbackTarget} from './load.js';

export interface MeasureOptions {
  /** Requests per second, half on kept-alive connections and half on new ones (default 100). */
  ratePerSecond?: number;
  /** How long the load runs before `during` starts (default 2000 ms). */
  baselineMs?: number;
  /** How long it goes on after `during` ends, so a late restart is seen (default 1000 ms). */
  tailMs?: number;
  /** Per request (default 5000 ms). */
  timeoutMs?: number;
  /** A bound on the whole measurement: the load stops by itself after this (default 30 min). */
  maxDurationMs?: number;
}

export interface RestartWindow {
  /** Epoch ms of the first disturbed request's start. */
  startMs: number;
  lengthMs: number;
  requests: number;
  failed: number;
}

export interface Measurement {
  sent: number;
  failed: number;
  /** Failed requests by kind: refused, reset, timeout, 5xx, other. */
  failures: Record<string, number>;
  p99Ms: number;
  /** The longest restart window; 0 when no request was disturbed. */
  windowMs: number;
  windows: RestartWindow[];
  /** The longest run of failed requests only; 0 when none failed. */
  outageMs: number;
  outages: RestartWindow[];
  /** Above this a request counts as disturbed. */
  slowMs: number;
  baseline: {sent: number; p99Ms: number};
  /** Sent and failed per connection kind. */
  byConnection: Record<'keep-alive' | 'new', {sent: number; failed: number}>;
  /** Which release answered how many requests (from the JSON body's "version"). */
  versions: Record<string, number>;
  /** How long `during` took. */
  duringMs: number;
  /** A few failures as they happened (time from the start of `during`, connection, kind, detail). */
  failureSamples: string[];
}

/** One row of the report: a supervisor in one mode, over `cycles` update + rollback cycles. */
export interface DowntimeRow {
  supervisor: string;
  mode: string;
  cycles: number;
  sent: number;
  failed: number;
  failures: Record<string, number>;
  p99Ms: number;
  windowMs: number;
  /** The longest outage (failed requests only); optional, so rows built from older measurements still fit. */
  outageMs?: number;
}

const LOAD_SCRIPT = join(repoRoot, 'bench', 'downtime', 'load.ts');
const SLOW_FACTOR = 5;
const SLOW_FLOOR_MS = 100;
const WINDOW_GAP_MS = 1000;

export async function measure(url: string, during: () => Promise<void>, opts: MeasureOptions = {}): Promise<Measurement> {
  loopbackTarget(url); // refuse before a process is started
  const rate = opts.ratePerSecond ?? 100;
  const baselineMs = opts.baselineMs ?? 2000;
  const tailMs = opts.tailMs ?? 1000;
  const maxDurationMs = opts.maxDurationMs ?? 30 * 60_000;
  const load = startLoad({url, ratePerSecond: rate, maxDurationMs, maxRequests: Math.ceil((rate * maxDurationMs) / 1000), timeoutMs: opts.timeoutMs ?? 5000});
  try {
    await load.started;
    await sleep(baselineMs);
    const duringStart = epochNow();
    await during();
    const duringEnd = epochNow();
    await sleep(tailMs);
    const report = await load.stop();
    return summarise(report.requests, duringStart, duringEnd);
  } finally {
    load.kill();
  }
}

interface LoadProcess {
  started: Promise<void>;
  stop(): Promise<LoadReport>;
  kill(): void;
}

/** Forks load.ts under tsx (its own process: a busy benchmark must not delay the requests). */
function startLoad(opts: LoadOptions): LoadProcess {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', LOAD_SCRIPT, JSON.stringify(opts)], {
    cwd: repoRoot,
    env: cleanEnv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`the load process exited (${signal ?? code}) before it reported (its stderr is above)`)));
  });
  exited.catch(() => undefined); // observed through started/stop
  const message = (type: LoadMessage['type']): Promise<LoadMessage> =>
    Promise.race([
      new Promise<LoadMessage>((resolve) => {
        const listener = (m: LoadMessage): void => {
          if (m.type !== type) return;
          child.off('message', listener);
          resolve(m);
        };
        child.on('message', listener);
      }),
      exited,
    ]);
  const reported = message('report');
  reported.catch(() => undefined); // awaited in stop()
  return {
    started: message('started').then(() => undefined),
    async stop() {
      child.send({type: 'stop'});
      const m = await reported;
      if (m.type !== 'report') throw new Error('unexpected message from the load process');
      return m.report;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The figures of one measurement from every request's record (exported for the test). */
export function summarise(requests: RequestRecord[], duringStart: number, duringEnd: number): Measurement {
  const baseline = requests.filter((r) => r.startMs < duringStart);
  const badBaseline = baseline.filter((r) => r.result !== 'ok');
  if (baseline.length === 0) throw new Error('no steady baseline: no request was answered before the measured run started');
  if (badBaseline.length > 0) {
    throw new Error(`no steady baseline: ${badBaseline.length} of ${baseline.length} requests failed before the measured run started (${countBy(badBaseline).join(', ')}); is the app up?`);
  }
  const baselineP99 = percentile(baseline.map((r) => r.latencyMs), 0.99);
  const slowMs = Math.max(SLOW_FACTOR * baselineP99, SLOW_FLOOR_MS);
  const measured = requests.filter((r) => r.startMs >= duringStart);
  const failed = measured.filter((r) => r.result !== 'ok');
  const failures: Record<string, number> = {};
  for (const r of failed) failures[r.result] = (failures[r.result] ?? 0) + 1;
  const versions: Record<string, number> = {};
  for (const r of measured) if (r.version !== undefined) versions[r.version] = (versions[r.version] ?? 0) + 1;
  const byConnection = {'keep-alive': {sent: 0, failed: 0}, new: {sent: 0, failed: 0}};
  for (const r of measured) {
    byConnection[r.connection].sent++;
    if (r.result !== 'ok') byConnection[r.connection].failed++;
  }
  const answeredDuring = measured.filter((r) => r.result === 'ok' && r.startMs <= duringEnd).map((r) => r.latencyMs);
  const windows = restartWindows(measured.filter((r) => r.result !== 'ok' || r.latencyMs > slowMs));
  const outages = restartWindows(failed);
  return {
    sent: measured.length,
    failed: failed.length,
    failures,
    p99Ms: answeredDuring.length === 0 ? 0 : percentile(answeredDuring, 0.99),
    windowMs: Math.max(0, ...windows.map((w) => w.lengthMs)),
    windows,
    outageMs: Math.max(0, ...outages.map((w) => w.lengthMs)),
    outages,
    slowMs,
    baseline: {sent: baseline.length, p99Ms: baselineP99},
    byConnection,
    versions,
    duringMs: duringEnd - duringStart,
    failureSamples: failed.slice(0, 8).map((r) => `+${((r.startMs - duringStart) / 1000).toFixed(3)} s ${r.connection} ${r.result}${r.detail === undefined ? '' : ` (${r.detail})`}`),
  };
}

/** Disturbed requests (sorted by start) grouped into runs less than WINDOW_GAP_MS apart. */
function restartWindows(disturbed: RequestRecord[]): RestartWindow[] {
  const windows: RestartWindow[] = [];
  let endMs = Number.NEGATIVE_INFINITY;
  let current: RestartWindow | undefined;
  for (const r of disturbed) {
    if (current === undefined || r.startMs - endMs >= WINDOW_GAP_MS) {
      current = {startMs: r.startMs, lengthMs: 0, requests: 0, failed: 0};
      windows.push(current);
      endMs = r.startMs;
    }
    endMs = Math.max(endMs, r.startMs + r.latencyMs);
    current.lengthMs = endMs - current.startMs;
    current.requests++;
    if (r.result !== 'ok') current.failed++;
  }
  return windows;
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function countBy(records: RequestRecord[]): string[] {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(`${r.result}${r.detail === undefined ? '' : ` ${r.detail}`}`, (counts.get(`${r.result}${r.detail === undefined ? '' : ` ${r.detail}`}`) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`);
}

const epochNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
