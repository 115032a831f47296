/**
 * The restart hook called the way parako calls it, with a `{ctx}` whose exec plays pm2: what
 * counts as "the new release runs" (online, new pids, steady), and what a failure says.
 * test/integration/supervisor-pm2.test.ts runs it against a real pm2.
 */
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {delimiter, join} from 'node:path';

import {type ExecOptions, type ExecResult, type HookContext, testContext} from 'parako';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import restart, {restartApps} from '../src/hooks/restart.js';
import {collapseRepeats, parseJlist} from '../src/pm2.js';
import {provider} from '../src/provides.js';

type Instance = [id: number, pid: number, status: string, restarts: number];

/** `pm2 jlist` output for app "web": one process per instance, with the noise pm2 adds. */
function jlist(...instances: Instance[]): string {
  const list = instances.map(([id, pid, status, restarts]) => ({
    pid,
    name: 'web',
    pm_id: id,
    pm2_env: {status, restart_time: restarts, pm_out_log_path: `/h/logs/web-out-${id}.log`, pm_err_log_path: `/h/logs/web-error-${id}.log`, env: {SECRET: 'never shown'}},
  }));
  return `[PM2] Spawning PM2 daemon with pm2_home=/x\n${JSON.stringify(list)}\n`;
}

interface Call {
  command: string;
  args: string[];
  options: ExecOptions;
}

/** A log file's content before pm2's reload or restart, and after it. */
type LogFile = {before: string; after: string};

/** The instance 0 log files of the default context: old lines, then what the new release wrote. */
const LOGS: Record<string, LogFile> = {
  '/h/logs/web-out-0.log': {before: 'web v1 listening\n', after: 'web v1 listening\nweb v1 stopping\nweb v2 listening\n'},
  '/h/logs/web-error-0.log': {before: 'web v1 boom\n', after: 'web v1 boom\nweb v2 boom\nweb v2 boom\n'},
};

/**
 * A context whose pm2 answers `jlist` from `lists` in turn (the last one repeats), and whose
 * stat and tail read `logs` as they are before and after the reload.
 */
function contextWith(lists: string[], supervisor: Record<string, unknown> = {}, reloadFailures = 0, logs: Record<string, LogFile> = LOGS): {ctx: HookContext; calls: Call[]; said: string[]} {
  const calls: Call[] = [];
  let next = 0;
  let restarted = false;
  const content = (file: string): Buffer => Buffer.from((restarted ? logs[file]?.after : logs[file]?.before) ?? '');
  const exec = async (command: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> => {
    calls.push({command, args, options});
    if (command === 'getent') return {code: 0, stdout: 'app:x:1001:1001::/home/app:/bin/sh\n', stderr: ''};
    if (command === 'stat') return {code: 0, stdout: `${content(args.at(-1)!).length}\n`, stderr: ''};
    if (command === 'tail') return {code: 0, stdout: content(args.at(-1)!).subarray(Number(args[1]!.slice(1)) - 1).toString(), stderr: ''};
    if (args[0] === 'reload' || args[0] === 'restart') restarted = true;
    if (args[0] === 'reload' && reloadFailures-- > 0) return {code: 1, stdout: '', stderr: '[PM2][ERROR] Process with pid 42 already exists\n'};
    if (args[0] === 'jlist') return {code: 0, stdout: lists[Math.min(next++, lists.length - 1)] ?? '[]', stderr: ''};
    return {code: 0, stdout: '', stderr: ''};
  };
  const {ctx, said} = testContext('restart', {
    config: {app: 'web', keepReleases: 3, supervisor: {type: 'pm2'}},
    settings: {type: 'pm2', apps: ['web'], ...supervisor},
    exec,
  });
  return {ctx, calls, said};
}

const settings = (ctx: HookContext) => provider.settingsOf(ctx);
const FAST = {settleMs: 30, pollMs: 5, retryMs: 5};

// The hook looks pm2 up on PATH; a stand-in file is enough since exec is faked.
let binDir: string;
const savedPath = process.env.PATH;
beforeAll(async () => {
  binDir = await mkdtemp(join(tmpdir(), 'parako-pm2-unit-'));
  await writeFile(join(binDir, 'pm2'), '#!/bin/sh\nexit 99\n');
  await chmod(join(binDir, 'pm2'), 0o755);
  process.env.PATH = `${binDir}${delimiter}${savedPath ?? ''}`;
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await rm(binDir, {recursive: true, force: true});
});

describe('pm2 restart hook', () => {
  it('reloads, then waits for new pids that stay online, and says so', async () => {
    const old = jlist([0, 10, 'online', 0], [1, 11, 'online', 0]);
    const {ctx, calls, said} = contextWith([old, old, jlist([0, 20, 'online', 1], [1, 11, 'online', 0]), jlist([0, 20, 'online', 1], [1, 21, 'online', 1])], {home: '/srv/pm2'});
    await restartApps(ctx, settings(ctx), FAST);
    expect(calls.filter((call) => call.command !== 'stat').map((call) => call.args.join(' ')).slice(0, 2)).toEqual(['jlist', 'reload web']);
    expect(calls[0]!.command).toBe(join(binDir, 'pm2'));
    expect(calls[0]!.options.env).toEqual({PM2_HOME: '/srv/pm2'});
    expect(said).toEqual(['reloaded web: 2 instances online with new pids 20, 21 (steady for 0.03 s)']);
  });

  it('waits supervisor.settleSeconds (here 0) when the config sets it', async () => {
    const {ctx, said} = contextWith([jlist([0, 10, 'online', 0]), jlist([0, 30, 'online', 1])], {settleSeconds: 0});
    await restart({ctx});
    expect(said).toEqual(['reloaded web: 1 instance online with new pids 30 (steady for 0 s)']);
  });

  it('restarts instead with mode "restart", as runAs with that user\'s ~/.pm2 by default', async () => {
    const {ctx, calls} = contextWith([jlist([0, 10, 'online', 0]), jlist([0, 30, 'online', 1])], {runAs: 'app', mode: 'restart'});
    await restartApps(ctx, settings(ctx), FAST);
    const pm2Calls = calls.filter((call) => !['getent', 'stat', 'tail'].includes(call.command));
    expect(pm2Calls.map((call) => call.args.join(' ')).slice(0, 2)).toEqual(['jlist', 'restart web']);
    expect(pm2Calls[0]!.options).toMatchObject({runAs: 'app', env: {PM2_HOME: '/home/app/.pm2'}});
  });

  it('fails when an instance errored, with its state and only what the logs got since the restart', async () => {
    const {ctx, calls} = contextWith([jlist([0, 10, 'online', 0], [1, 11, 'online', 0]), jlist([0, 0, 'errored', 16], [1, 40, 'launching', 9])], {runAs: 'app'});
    const failure = restartApps(ctx, settings(ctx), FAST);
    await expect(failure).rejects.toThrow(/pm2 app web did not stay up: pm2 shows it errored: instance 0 errored \(pid 0, 16 restarts\); instance 1 launching \(pid 40, 9 restarts\)/);
    await expect(failure).rejects.toThrow(
      /\nlog lines since the restart at \d\d:\d\d:\d\d \(read from where pm2's log files ended before it\):\n\/h\/logs\/web-out-0\.log:\n {2}web v1 stopping\n {2}web v2 listening\n\/h\/logs\/web-error-0\.log:\n {2}web v2 boom \(2 times\)$/,
    );
    await expect(failure).rejects.not.toThrow(/web v1 (listening|boom)/);
    // Measured before the reload, read from there after it, as the apps' user: the paths are theirs.
    const reload = calls.findIndex((call) => call.args[0] === 'reload');
    expect(calls.slice(0, reload).filter((call) => call.command === 'stat').map((call) => call.args.at(-1))).toEqual([
      '/h/logs/web-out-0.log',
      '/h/logs/web-error-0.log',
      '/h/logs/web-out-1.log',
      '/h/logs/web-error-1.log',
    ]);
    expect(calls.find((call) => call.command === 'tail' && call.args.at(-1) === '/h/logs/web-out-0.log')).toMatchObject({args: ['-c', '+18', '--', '/h/logs/web-out-0.log'], options: {runAs: 'app'}});
  });

  it('keeps the excerpt to two files of lines with many instances, whole files, naming the ones left out', async () => {
    const noisy = Object.fromEntries([0, 1, 2].map((id) => [`/h/logs/web-error-${id}.log`, {before: '', after: Array.from({length: 30}, (_, i) => `line ${i}`).join('\n')}]));
    const {ctx} = contextWith([jlist([0, 10, 'online', 0], [1, 11, 'online', 0], [2, 12, 'online', 0]), jlist([0, 0, 'errored', 16], [1, 0, 'errored', 16], [2, 0, 'errored', 16])], {}, 0, noisy);
    const failure = restartApps(ctx, settings(ctx), FAST).catch((error: Error) => error.message);
    const message = await failure;
    expect(message).toMatch(/\/h\/logs\/web-error-1\.log:\n {2}line 10\n[^]*\/h\/logs\/web-error-2\.log:\n {2}line 10\n[^]* {2}line 29\n\(1 more log file with lines since the restart not shown: \/h\/logs\/web-error-0\.log\)$/);
    expect(message).not.toContain('/h/logs/web-error-0.log:');
  });

  it('says plainly when the app logged nothing since the restart', async () => {
    const quiet = {'/h/logs/web-out-0.log': {before: 'web v1 listening\n', after: 'web v1 listening\n'}};
    const {ctx} = contextWith([jlist([0, 10, 'online', 0]), jlist([0, 0, 'errored', 16])], {}, 0, quiet);
    await expect(restartApps(ctx, settings(ctx), FAST)).rejects.toThrow(/\nno log lines since the restart at \d\d:\d\d:\d\d \(in \/h\/logs\/web-out-0\.log, \/h\/logs\/web-error-0\.log\)$/);
  });

  it('shows a log emptied after the restart (pm2 flush, rotation) from its start, and says so', async () => {
    const flushed = {'/h/logs/web-error-0.log': {before: 'web v1 boom, a long old line\n', after: 'web v2 boom\n'}};
    const {ctx} = contextWith([jlist([0, 10, 'online', 0]), jlist([0, 0, 'errored', 16])], {}, 0, flushed);
    await expect(restartApps(ctx, settings(ctx), FAST)).rejects.toThrow(
      /\/h\/logs\/web-error-0\.log:\n {2}web v2 boom\n\(\/h\/logs\/web-error-0\.log was emptied \(pm2 flush, or rotated\) after the restart: what it held before that is not shown\)$/,
    );
  });

  it('fails when a new process crashes within the settle window, even though reload returned 0', async () => {
    const before = jlist([0, 10, 'online', 0]);
    const {ctx} = contextWith([before, jlist([0, 20, 'online', 1]), jlist([0, 20, 'online', 1]), jlist([0, 22, 'online', 2])]);
    await expect(restartApps(ctx, settings(ctx), {...FAST, settleMs: 1000})).rejects.toThrow(/pm2 app web did not stay up: it restarted within 1 s of coming up \(crash loop\?\): instance 0 online \(pid 22, 2 restarts\)/);
  });

  it('tries a refused reload again, and fails after three refusals', async () => {
    const lists = [jlist([0, 10, 'online', 0]), jlist([0, 30, 'online', 1])];
    const once = contextWith(lists, {}, 1);
    await restartApps(once.ctx, settings(once.ctx), FAST);
    expect(once.calls.filter((call) => call.args[0] === 'reload')).toHaveLength(2);
    const always = contextWith(lists, {}, 3);
    await expect(restartApps(always.ctx, settings(always.ctx), FAST)).rejects.toThrow(
      /pm2 app web could not be reloaded: pm2 reload web exited with code 1 \(3 attempts\): \[PM2\]\[ERROR\] Process with pid 42 already exists/,
    );
  });

  it('names the apps pm2 runs when the configured one is not among them', async () => {
    const {ctx} = contextWith(['[]']);
    await expect(restartApps(ctx, settings(ctx), FAST)).rejects.toThrow(/pm2 has no app named "web" \(it runs nothing\)/);
  });

  it('never shows the environment in pm2 output it cannot read', () => {
    expect(() => parseJlist('[PM2] warning\n[{"pid":1,"pm2_env":{"env":{"SECRET":"x"')).toThrow(/printed no readable process list/);
    expect(() => parseJlist('[{"pid":1,"pm2_env":{"env":{"SECRET":"x"')).not.toThrow(/SECRET/);
  });

  it('reads a list spread over lines, and skips reload leftovers', () => {
    const list = JSON.stringify([{pid: 5, name: 'web', pm_id: '_old_0', pm2_env: {status: 'stopping'}}, {pid: 6, name: 'web', pm_id: 0, pm2_env: {status: 'online', restart_time: 3}}], null, 2);
    expect(parseJlist(`>>>> In-memory PM2 is out-of-date\n${list}\n`)).toEqual([
      {name: 'web', id: Number.NaN, pid: 5, status: 'stopping', restarts: 0, logFiles: []},
      {name: 'web', id: 0, pid: 6, status: 'online', restarts: 3, logFiles: []},
    ]);
  });

  it('counts repeats in a row, also of a line that differs only in the timestamp pm2 adds (time: true)', () => {
    expect(collapseRepeats(['up', 'boom', 'boom', 'boom', 'up'])).toEqual(['up', 'boom (3 times)', 'up']);
    expect(collapseRepeats(['2026-11-27T01:19:53: boom', '2026-11-27T01:19:54: boom'])).toEqual(['2026-11-27T01:19:54: boom (2 times)']);
  });
});
