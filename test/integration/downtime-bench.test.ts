/**
 * The downtime benchmark (`npm run bench -- downtime`, bench/downtime/) works: its quick mode
 * runs a real update + rollback cycle under load for pm2 and for docker compose and reports
 * rows whose counts add up, and its load generator sends requests to 127.0.0.1 only. No
 * figure is asserted: failed requests and restart windows are what the benchmark measures,
 * not what a test on a shared CI machine can promise.
 */
import {spawn} from 'node:child_process';
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {loopbackTarget, type RequestRecord} from '../../bench/downtime/load.js';
import {type DowntimeRow, type Measurement, measure, summarise} from '../../bench/downtime/measure.js';
import type {DowntimeReport} from '../../bench/downtime/run.js';
import {composeMissing} from '../fixtures/compose.js';
import {cleanEnv, repoRoot} from '../fixtures/cli.js';
import {exists} from './helpers.js';

const PM2 = join(repoRoot, 'node_modules', '.bin', 'pm2');
const pm2Missing = (await exists(PM2)) ? false : `no ${PM2} (npm install)`;
const dockerMissing = composeMissing();
if (process.env.CI === 'true' && (pm2Missing !== false || dockerMissing !== false)) {
  throw new Error(`CI must provide pm2 and Docker with docker-compose: ${[pm2Missing, dockerMissing].filter(Boolean).join('; ')}`);
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'parako-downtime-test-'));
});
afterAll(async () => {
  await rm(scratch, {recursive: true, force: true});
});

interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `tsx bench/run.ts …args`, as `npm run bench -- …args` runs it after the build. */
function bench(args: string[], timeoutMs: number): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'run.ts'), ...args], {cwd: repoRoot, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({code, stdout, stderr});
    });
  });
}

/** A row's counts agree with the measurement behind it, and the load reached both releases. */
function expectSaneRow(row: DowntimeRow, measurement: Measurement | undefined, cycles: number): void {
  expect(row.cycles).toBe(cycles);
  expect(row.sent).toBeGreaterThan(0);
  expect(row.failed).toBeGreaterThanOrEqual(0);
  expect(row.failed).toBeLessThanOrEqual(row.sent);
  expect(Object.values(row.failures).reduce((sum, n) => sum + n, 0)).toBe(row.failed);
  for (const kind of Object.keys(row.failures)) expect(['refused', 'reset', 'timeout', '5xx', 'other']).toContain(kind);
  expect(row.windowMs).toBeGreaterThanOrEqual(0);
  expect(row.outageMs === 0).toBe(row.failed === 0);
  expect(row.outageMs).toBeLessThanOrEqual(row.windowMs); // an outage lies within a restart window
  expect(row.p99Ms).toBeGreaterThan(0);
  expect(measurement).toBeDefined();
  const m = measurement!;
  expect(m.byConnection['keep-alive'].sent + m.byConnection.new.sent).toBe(row.sent);
  expect(m.byConnection['keep-alive'].failed + m.byConnection.new.failed).toBe(row.failed);
  expect(row.windowMs === 0).toBe(m.windows.length === 0);
  // The update really switched releases under the load, and the rollback switched back.
  expect(Object.keys(m.versions).sort()).toEqual(['1.0.0', '1.1.0']);
  expect(Object.values(m.versions).reduce((sum, n) => sum + n, 0)).toBe(row.sent - row.failed);
}

async function quickRun(suite: 'pm2' | 'compose', timeoutMs: number): Promise<{report: DowntimeReport; run: BenchRun}> {
  const json = join(scratch, `${suite}.json`);
  const run = await bench(['downtime', '--quick', '--only', suite, '--json', json], timeoutMs);
  expect(run.code, `bench exited ${run.code}\n--- stdout:\n${run.stdout}\n--- stderr:\n${run.stderr}`).toBe(0);
  const report = JSON.parse(await readFile(json, 'utf8')) as DowntimeReport;
  expect(report).toMatchObject({quick: true, cycles: 1, skipped: []});
  expect(run.stdout).toContain('| Supervisor | Mode | Cycles | Requests sent | Failed |');
  return {report, run};
}

describe('the load generator asks 127.0.0.1 only', () => {
  it('refuses any other host, scheme or address', () => {
    for (const url of ['http://10.0.0.1:80/health', 'http://localhost:9007/health', 'https://127.0.0.1:9007/health', 'http://127.0.0.2/health', 'http://[::1]:9007/', 'http://example.com/', 'not a url']) {
      expect(() => loopbackTarget(url), url).toThrow(/refusing|not a URL/);
    }
    expect(loopbackTarget('http://127.0.0.1:9007/health').port).toBe('9007');
  });

  it('measure() refuses a non-loopback URL before starting the load or running anything', async () => {
    let ran = false;
    await expect(measure('http://192.0.2.1:9007/health', async () => void (ran = true))).rejects.toThrow(/only sends requests to http:\/\/127\.0\.0\.1/);
    expect(ran).toBe(false);
  });

  it('the load process itself refuses a non-loopback URL and exits without sending', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'downtime', 'load.ts'), JSON.stringify({url: 'http://192.0.2.1/', ratePerSecond: 10, maxDurationMs: 1000, maxRequests: 10, timeoutMs: 500})], {
      cwd: repoRoot,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const messages: unknown[] = [];
    child.on('message', (m) => messages.push(m));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('refusing http://192.0.2.1/');
    expect(messages).toEqual([]); // never said 'started'
  });
});

describe('the restart window and the counts', () => {
  const record = (startMs: number, latencyMs: number, result: RequestRecord['result'] = 'ok', connection: RequestRecord['connection'] = 'new'): RequestRecord => ({
    startMs,
    latencyMs,
    result,
    connection,
    ...(result === 'ok' ? {version: '1.0.0'} : {}),
  });

  it('runs from the first to the last failed or slow request of each restart; 0 when none', () => {
    const baseline = Array.from({length: 100}, (_, i) => record(i * 10, 2));
    const calm = Array.from({length: 100}, (_, i) => record(1000 + i * 10, 2));
    expect(summarise([...baseline, ...calm], 1000, 2000)).toMatchObject({sent: 100, failed: 0, windowMs: 0, windows: []});

    const restart1 = [record(1200, 1, 'refused'), record(1210, 1, 'refused', 'keep-alive'), record(1220, 150), record(1300, 3, 'reset')];
    const restart2 = [record(4000, 5, '5xx')];
    const m = summarise([...baseline, ...calm, ...restart1, ...restart2], 1000, 5000);
    expect(m).toMatchObject({sent: 105, failed: 4, failures: {refused: 2, reset: 1, '5xx': 1}, slowMs: 100});
    expect(m.windows.map((w) => [w.startMs, w.lengthMs, w.requests, w.failed])).toEqual([
      [1200, 170, 4, 3],
      [4000, 5, 1, 1],
    ]);
    expect(m.windowMs).toBe(170);
    // The outage counts failed requests only: the slow answer at 1220 ms is not in it.
    expect(m.outages.map((w) => [w.startMs, w.lengthMs, w.failed])).toEqual([
      [1200, 103, 3],
      [4000, 5, 1],
    ]);
    expect(m.outageMs).toBe(103);
    expect(m.byConnection).toEqual({'keep-alive': {sent: 1, failed: 1}, new: {sent: 104, failed: 3}});
  });

  it('a baseline with failures is no baseline: the app was not up', () => {
    expect(() => summarise([record(0, 1, 'refused'), record(10, 1)], 100, 200)).toThrow(/no steady baseline: 1 of 2 requests failed/);
  });
});

describe.skipIf(pm2Missing !== false)(`npm run bench -- downtime --quick, pm2${pm2Missing ? ` (skipped: ${pm2Missing})` : ''}`, () => {
  it('measures fork + restart and cluster + reload under load and reports rows that add up', {timeout: 240_000}, async () => {
    const {report} = await quickRun('pm2', 230_000);
    expect(report.rows.map((r) => [r.supervisor, r.mode])).toEqual([
      ['pm2', 'fork, 1 instance, restart'],
      ['pm2', 'cluster, 2 instances, reload (template)'],
    ]);
    for (const [i, row] of report.rows.entries()) expectSaneRow(row, report.details[i]?.measurement, 1);
  });
});

describe.skipIf(dockerMissing !== false)(`npm run bench -- downtime --quick, docker compose${dockerMissing ? ` (skipped: ${dockerMissing})` : ''}`, () => {
  it('measures the restart and up modes under load and reports rows that add up', {timeout: 400_000}, async () => {
    const {report} = await quickRun('compose', 390_000);
    expect(report.rows.map((r) => r.mode)).toEqual(['restart (default)', 'up (--force-recreate)']);
    for (const [i, row] of report.rows.entries()) expectSaneRow(row, report.details[i]?.measurement, 1);
  });
});
