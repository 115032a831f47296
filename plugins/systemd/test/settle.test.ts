/**
 * How the systemd plugin reads `systemctl show` and judges a unit after its restart. The real
 * systemd is driven in test/integration/supervisor-systemd.test.ts; these cover the cases a
 * real unit only hits by timing (a crash between two polls, a restart that keeps the counter).
 */
import {type ExecResult, type HookContext, testContext} from 'parako';
import {describe, expect, it, vi} from 'vitest';

import restart from '../src/hooks/restart.js';
import {describeState, parseShow, type UnitState, unitJudge} from '../src/systemctl.js';

// The CLI hands a plugin its own SDK for 'parako' (bin/resolve-parako.js); here it is the checkout's.
vi.mock('parako', () => import('../../../src/index.js'));

function state(overrides: Partial<UnitState> = {}): UnitState {
  return {
    unit: 'app', id: 'app.service', loadState: 'loaded', activeState: 'active', subState: 'running', result: 'success',
    nRestarts: 0, mainPid: 100, mainStartedAt: '5000', execMainCode: 0, execMainStatus: 0, ...overrides,
  };
}

describe('systemctl show parsing', () => {
  it('reads one block per unit, in the order asked, keeping values that contain "="', () => {
    const stdout = [
      'Id=app.service', 'LoadState=loaded', 'ActiveState=active', 'SubState=running', 'NRestarts=0', 'MainPID=42',
      'ExecMainStartTimestampMonotonic=123', 'Result=success', 'ExecMainCode=0', 'ExecMainStatus=0',
      '',
      'Id=worker.service', 'LoadState=not-found', 'ActiveState=inactive', 'SubState=dead', 'NRestarts=3', 'MainPID=0',
      'Result=exit-code', 'ExecMainCode=1', 'ExecMainStatus=1', 'Extra=a=b',
      '',
    ].join('\n');
    const [app, worker] = parseShow(stdout, ['app', 'worker']);
    expect(app).toMatchObject({unit: 'app', id: 'app.service', activeState: 'active', mainPid: 42, mainStartedAt: '123', nRestarts: 0});
    expect(worker).toMatchObject({unit: 'worker', loadState: 'not-found', nRestarts: 3, result: 'exit-code'});
    expect(describeState(worker!)).toBe('inactive (dead), result exit-code, last main process exited with status 1, 3 automatic restart(s)');
  });

  it('refuses output that does not match the units asked', () => {
    expect(() => parseShow('Id=app.service\n', ['app', 'worker'])).toThrow(/printed 1 unit\(s\) for 2 asked/);
  });
});

describe('judging a unit after the restart', () => {
  it('waits while it starts, then is up with its main process as what must not change', () => {
    const judge = unitJudge(0);
    expect(judge(state({activeState: 'activating', subState: 'start'}))).toEqual({kind: 'waiting', what: 'activating/start'});
    expect(judge(state())).toEqual({kind: 'up', identity: 'pid 100 started at 5000'});
    expect(judge(state({mainPid: 101, mainStartedAt: '6000'}))).toEqual({kind: 'up', identity: 'pid 101 started at 6000'});
  });

  it('counts automatic restarts from the restart parako made, whether or not systemd reset the counter', () => {
    // A running unit: the restart resets NRestarts (7 -> 0); a crash between polls shows as 1.
    const reset = unitJudge(7);
    expect(reset(state({nRestarts: 0}))).toMatchObject({kind: 'up'});
    expect(reset(state({nRestarts: 1, mainPid: 102}))).toMatchObject({kind: 'failed', why: expect.stringMatching(/restarted it 1 time/)});
    // A unit waiting in auto-restart keeps its count (2) across the restart.
    const kept = unitJudge(2);
    expect(kept(state({nRestarts: 2}))).toMatchObject({kind: 'up'});
    expect(kept(state({nRestarts: 3}))).toMatchObject({kind: 'failed'});
  });

  it('fails a unit that is failed, inactive or waiting to be restarted', () => {
    expect(unitJudge(0)(state({activeState: 'failed', subState: 'failed'}))).toMatchObject({kind: 'failed'});
    expect(unitJudge(0)(state({activeState: 'inactive', subState: 'dead'}))).toMatchObject({kind: 'failed'});
    expect(unitJudge(0)(state({activeState: 'activating', subState: 'auto-restart'}))).toMatchObject({kind: 'failed'});
  });

  it('accepts a oneshot unit that remains active without a main process', () => {
    const judge = unitJudge(0);
    const exited = state({subState: 'exited', mainPid: 0, mainStartedAt: '0'});
    expect(judge(exited)).toEqual(judge(exited));
    expect(judge(exited)).toMatchObject({kind: 'up'});
  });
});

describe('restart hook', () => {
  /** `systemctl show` output for app and worker, their main pids given. */
  function show(appPid: number, workerPid: number): string {
    const block = (id: string, pid: number): string =>
      [`Id=${id}`, 'LoadState=loaded', 'ActiveState=active', 'SubState=running', 'NRestarts=0', `MainPID=${pid}`, `ExecMainStartTimestampMonotonic=${pid}000`].join('\n');
    return `${block('app.service', appPid)}\n\n${block('worker.service', workerPid)}\n`;
  }

  /** A context whose systemctl answers `show` from `looks` in turn (the last one repeats). */
  function contextWith(looks: string[], journal?: (args: string[]) => ExecResult): {ctx: HookContext; said: string[]; calls: Array<{command: string; args: string[]; at: number}>} {
    let next = 0;
    const calls: Array<{command: string; args: string[]; at: number}> = [];
    const exec = async (command: string, args: string[]): Promise<ExecResult> => {
      calls.push({command, args, at: Date.now()});
      if (command === 'systemctl' && args[0] === 'show') return {code: 0, stdout: looks[Math.min(next++, looks.length - 1)]!, stderr: ''};
      if (command === 'journalctl') return journal?.(args) ?? {code: 0, stdout: `${args[1]}: a journal line\n`, stderr: ''};
      return {code: 0, stdout: '', stderr: ''};
    };
    const {ctx, said} = testContext('restart', {
      config: {app: 'app', keepReleases: 3, supervisor: {type: 'systemd'}},
      settings: {type: 'systemd', units: ['app', 'worker'], settleSeconds: 0.5},
      exec,
    });
    return {ctx, said, calls};
  }

  it('says each unit stayed up once all kept their main process for the window', async () => {
    const {ctx, said} = contextWith([show(100, 200), show(101, 201)]);
    await restart({ctx});
    expect(said).toEqual(['systemctl restart app worker', 'app.service is active (main pid 101) and stayed up for 0.5 s', 'worker.service is active (main pid 201) and stayed up for 0.5 s']);
  });

  it('names the unit whose main process changed within the window, with its state and journal', async () => {
    const {ctx} = contextWith([show(100, 200), show(101, 201), show(101, 202)]);
    const failure = restart({ctx});
    await expect(failure).rejects.toThrow(/^worker\.service did not stay up: it restarted within 0\.5 s of coming up \(crash loop\?\)\nstate: active \(running\), main pid 202, [^\n]*\nlog lines since the restart at \d\d:\d\d:\d\d \(journalctl -u worker\.service --since @\d+\.\d{3} --no-pager -n 20\):\n {2}worker\.service: a journal line$/);
    await expect(failure).rejects.not.toThrow(/app\.service did not/);
  });

  it('asks the journal only for the lines since the restart, taken just before systemctl restart', async () => {
    const {ctx, calls} = contextWith([show(100, 200), show(101, 201), show(101, 202)]);
    await expect(restart({ctx})).rejects.toThrow(/did not stay up/);
    const restartCall = calls.find((call) => call.command === 'systemctl' && call.args[0] === 'restart')!;
    const journal = calls.find((call) => call.command === 'journalctl')!;
    expect(journal.args).toEqual(['-u', 'worker.service', '--since', expect.stringMatching(/^@\d+\.\d{3}$/), '--no-pager', '-n', '20']);
    const since = Number(journal.args[3]!.slice(1)) * 1000;
    expect(since).toBeLessThanOrEqual(restartCall.at);
    expect(since).toBeGreaterThan(restartCall.at - 1000);
  });

  it('says plainly when the unit logged nothing since the restart', async () => {
    const {ctx} = contextWith([show(100, 200), show(101, 201), show(101, 202)], () => ({code: 0, stdout: '-- No entries --\n', stderr: ''}));
    await expect(restart({ctx})).rejects.toThrow(/\nno log lines since the restart at \d\d:\d\d:\d\d \(journalctl -u worker\.service --since @[\d.]+ --no-pager -n 20\)$/);
  });

  it('names the unit that failed, with its own reason, and not the one that runs', async () => {
    const workerFailed = show(101, 201).replace('Id=worker.service\nLoadState=loaded\nActiveState=active\nSubState=running', 'Id=worker.service\nLoadState=loaded\nActiveState=failed\nSubState=failed');
    const {ctx} = contextWith([show(100, 200), workerFailed]);
    const failure = restart({ctx});
    await expect(failure).rejects.toThrow(/^worker\.service did not stay up: it is failed after parako's restart\nstate: failed \(failed\)/);
    await expect(failure).rejects.not.toThrow(/app\.service did not/);
  });
});
