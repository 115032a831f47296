/**
 * How the systemd plugin reads `systemctl show` and judges a unit after its restart. The real
 * systemd is driven in test/integration/supervisor-systemd.test.ts; these cover the cases a
 * real unit only hits by timing (a crash between two polls, a restart that keeps the counter).
 */
import {describe, expect, it} from 'vitest';

import {SettleWatch} from '../src/settle.js';
import {describeState, parseShow, type UnitState} from '../src/systemctl.js';

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

describe('settle window', () => {
  it('settles once the unit stayed active with the same main process for the window', () => {
    const watch = new SettleWatch('app', 0, 3000);
    expect(watch.observe(state({activeState: 'activating', subState: 'start'}), 0)).toEqual({kind: 'waiting'});
    expect(watch.observe(state(), 100)).toEqual({kind: 'waiting'});
    expect(watch.observe(state(), 2000)).toEqual({kind: 'waiting'});
    expect(watch.observe(state(), 3100)).toEqual({kind: 'settled'});
  });

  it('fails a unit whose main process changes within the window, even if it is active again', () => {
    const watch = new SettleWatch('app', 0, 3000);
    watch.observe(state(), 0);
    expect(watch.observe(state({mainPid: 101, mainStartedAt: '6000'}), 1200)).toMatchObject({kind: 'failed', why: expect.stringMatching(/pid 100 -> 101/)});
  });

  it('counts automatic restarts from the restart parako made, whether or not systemd reset the counter', () => {
    // A running unit: the restart resets NRestarts (7 -> 0); a crash between polls shows as 1.
    const reset = new SettleWatch('app', 7, 3000);
    expect(reset.observe(state({nRestarts: 0}), 0)).toEqual({kind: 'waiting'});
    expect(reset.observe(state({nRestarts: 1, mainPid: 102}), 300)).toMatchObject({kind: 'failed', why: expect.stringMatching(/restarted it 1 time/)});
    // A unit waiting in auto-restart keeps its count (2) across the restart.
    const kept = new SettleWatch('app', 2, 3000);
    expect(kept.observe(state({nRestarts: 2}), 0)).toEqual({kind: 'waiting'});
    expect(kept.observe(state({nRestarts: 3}), 300)).toMatchObject({kind: 'failed'});
  });

  it('fails a unit that is failed, inactive or waiting to be restarted', () => {
    expect(new SettleWatch('app', 0, 3000).observe(state({activeState: 'failed', subState: 'failed'}), 0)).toMatchObject({kind: 'failed'});
    expect(new SettleWatch('app', 0, 3000).observe(state({activeState: 'inactive', subState: 'dead'}), 0)).toMatchObject({kind: 'failed'});
    expect(new SettleWatch('app', 0, 3000).observe(state({activeState: 'activating', subState: 'auto-restart'}), 0)).toMatchObject({kind: 'failed'});
  });

  it('accepts a oneshot unit that remains active without a main process', () => {
    const watch = new SettleWatch('app', 0, 1000);
    watch.observe(state({subState: 'exited', mainPid: 0, mainStartedAt: '0'}), 0);
    expect(watch.observe(state({subState: 'exited', mainPid: 0, mainStartedAt: '0'}), 1000)).toEqual({kind: 'settled'});
  });
});
