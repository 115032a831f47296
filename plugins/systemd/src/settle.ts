import type {UnitState} from './systemctl.js';

export type Verdict = {kind: 'waiting'} | {kind: 'settled'} | {kind: 'failed'; why: string};

/**
 * Judges one unit after parako's restart: it must reach `active` and then keep the same main
 * process, with no automatic restart, for the whole settle window. `systemctl restart` returns
 * as soon as the start job is done (for Type=simple, right after the fork), so a release that
 * crash-loops under `Restart=always` would otherwise look restarted and fine.
 */
export class SettleWatch {
  /** NRestarts before any restart of ours counted; fixed at the first observation. */
  private baseline?: number;
  private stable?: {since: number; mainPid: number; mainStartedAt: string};

  constructor(
    readonly unit: string,
    /** NRestarts read just before `systemctl restart`. */
    private readonly restartsBefore: number,
    private readonly settleMs: number,
  ) {}

  observe(state: UnitState, now: number): Verdict {
    // A restart of a running unit resets NRestarts to 0; one of a unit waiting in auto-restart
    // keeps the count. The smaller of "before" and "first seen" is the count parako started from.
    this.baseline ??= Math.min(this.restartsBefore, state.nRestarts);
    const crashes = state.nRestarts - this.baseline;
    if (crashes > 0) return failed(`systemd restarted it ${crashes} time(s) after parako's restart: its main process keeps ending (crash loop)`);
    if (state.activeState === 'failed' || state.activeState === 'inactive') {
      return failed(`it is ${state.activeState} after parako's restart`);
    }
    if (state.subState === 'auto-restart') return failed("its main process ended after parako's restart and systemd is about to restart it");
    if (state.activeState !== 'active') {
      if (this.stable !== undefined) return failed(`it left the active state (now ${state.activeState}/${state.subState}) within the settle window`);
      return {kind: 'waiting'};
    }
    if (this.stable === undefined) {
      this.stable = {since: now, mainPid: state.mainPid, mainStartedAt: state.mainStartedAt};
    } else if (state.mainPid !== this.stable.mainPid || state.mainStartedAt !== this.stable.mainStartedAt) {
      return failed(`its main process changed (pid ${this.stable.mainPid} -> ${state.mainPid}) within the settle window: it was restarted`);
    }
    return now - this.stable.since >= this.settleMs ? {kind: 'settled'} : {kind: 'waiting'};
  }
}

function failed(why: string): Verdict {
  return {kind: 'failed', why};
}
