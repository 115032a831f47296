import type {HookContext, Judgement} from 'parako';

/** What `systemctl show` tells about one unit, the part the restart hook judges. */
export interface UnitState {
  /** The name as configured in supervisor.units (`parako-id`). */
  unit: string;
  /** systemd's full name (`parako-id.service`). */
  id: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** Why the unit last stopped or failed: `success`, `exit-code`, `signal`, `start-limit-hit`… */
  result: string;
  /** Automatic restarts by `Restart=`; a restart that parako asks for resets it to 0. */
  nRestarts: number;
  mainPid: number;
  /** CLOCK_MONOTONIC µs at which the current main process started: changes with every restart. */
  mainStartedAt: string;
  /** How the last main process ended: CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3), or 0 while none has. */
  execMainCode: number;
  execMainStatus: number;
}

const PROPERTIES = [
  'Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'NRestarts', 'MainPID',
  'ExecMainStartTimestampMonotonic', 'ExecMainCode', 'ExecMainStatus',
];

/**
 * The state of every unit, from one `systemctl show`. `systemctl is-active` cannot be used:
 * it exits 3 for "inactive" and "failed" alike, and says nothing about restarts.
 */
export async function showUnits(ctx: HookContext, units: string[]): Promise<UnitState[]> {
  const result = await ctx.exec('systemctl', ['show', '-p', PROPERTIES.join(','), '--', ...units]);
  if (result.code !== 0) {
    throw new Error(`systemctl show ${units.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return parseShow(result.stdout, units);
}

/** `systemctl show` prints one block of `Key=value` lines per unit, in the order asked, blocks separated by a blank line. */
export function parseShow(stdout: string, units: string[]): UnitState[] {
  const blocks = stdout.trim().split(/\n\s*\n/).filter((block) => block.trim() !== '');
  if (blocks.length !== units.length) {
    throw new Error(`systemctl show printed ${blocks.length} unit(s) for ${units.length} asked (${units.join(', ')}):\n${stdout.trim()}`);
  }
  return blocks.map((block, i) => {
    const properties = new Map<string, string>();
    for (const line of block.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) properties.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    const text = (key: string): string => properties.get(key) ?? '';
    const number = (key: string): number => Number(properties.get(key) ?? 0) || 0;
    return {
      unit: units[i]!,
      id: text('Id') || units[i]!,
      loadState: text('LoadState'),
      activeState: text('ActiveState'),
      subState: text('SubState'),
      result: text('Result'),
      nRestarts: number('NRestarts'),
      mainPid: number('MainPID'),
      mainStartedAt: text('ExecMainStartTimestampMonotonic'),
      execMainCode: number('ExecMainCode'),
      execMainStatus: number('ExecMainStatus'),
    };
  });
}

/** One line for the operator: `failed (failed), result exit-code, main process exited with status 1, 3 automatic restarts`. */
export function describeState(state: UnitState): string {
  const parts = [`${state.activeState} (${state.subState})`];
  if (state.result !== '' && state.result !== 'success') parts.push(`result ${state.result}`);
  if (state.mainPid > 0) parts.push(`main pid ${state.mainPid}`);
  // CLD_* codes from waitid(2), as systemd records them.
  if (state.execMainCode === 1) parts.push(`last main process exited with status ${state.execMainStatus}`);
  if (state.execMainCode === 2 || state.execMainCode === 3) parts.push(`last main process killed by signal ${state.execMainStatus}`);
  parts.push(`${state.nRestarts} automatic restart(s)`);
  return parts.join(', ');
}

/**
 * How one unit is judged after parako's restart, look by look (for waitUntilSettled). It has
 * failed when systemd restarted it, when it is failed or inactive, or when it waits to be
 * restarted; it is up while active, and its main process (pid and start time) is what must not
 * change. `systemctl restart` returns as soon as the start job is done (for Type=simple, right
 * after the fork), so a release that crash-loops under `Restart=always` would otherwise look
 * restarted and fine.
 */
export function unitJudge(restartsBefore: number): (state: UnitState) => Judgement {
  let baseline: number | undefined;
  return (state) => {
    // A restart of a running unit resets NRestarts to 0; one of a unit waiting in auto-restart
    // keeps the count. The smaller of "before" and "first seen" is the count parako started from.
    baseline ??= Math.min(restartsBefore, state.nRestarts);
    const crashes = state.nRestarts - baseline;
    if (crashes > 0) return failed(`systemd restarted it ${crashes} time(s) after parako's restart: its main process keeps ending (crash loop)`);
    if (state.activeState === 'failed' || state.activeState === 'inactive') return failed(`it is ${state.activeState} after parako's restart`);
    if (state.subState === 'auto-restart') return failed("its main process ended after parako's restart and systemd is about to restart it");
    if (state.activeState !== 'active') return {kind: 'waiting', what: `${state.activeState}/${state.subState}`};
    return {kind: 'up', identity: `pid ${state.mainPid} started at ${state.mainStartedAt}`};
  };
}

function failed(why: string): Judgement {
  return {kind: 'failed', why};
}

export const JOURNAL_LINES = 20;

/**
 * The unit's journal lines since parako's restart, at most JOURNAL_LINES, to put in front of
 * the operator with the failure. `--since` the restart rather than the unit's InvocationID:
 * a crash loop starts a new invocation each time, and the first one's lines are the ones that
 * say why. Never throws: it only adds detail to a failure that is reported anyway.
 */
export async function journalExcerpt(ctx: HookContext, unit: string, restartedAt: Date): Promise<string> {
  // journalctl reads "@<seconds>" with a fraction, so lines of the same second before the restart stay out.
  const args = ['-u', unit, '--since', `@${(restartedAt.getTime() / 1000).toFixed(3)}`, '--no-pager', '-n', String(JOURNAL_LINES)];
  const command = `journalctl ${args.join(' ')}`;
  const since = `since the restart at ${clock(restartedAt)}`;
  try {
    const result = await ctx.exec('journalctl', args);
    const lines = result.stdout.split('\n').filter((line) => line.trim() !== '' && line.trim() !== '-- No entries --');
    if (lines.length > 0) return `log lines ${since} (${command}):\n${lines.map((line) => `  ${line}`).join('\n')}`;
    const why = result.stderr.trim();
    if (result.code === 0 && why === '') return `no log lines ${since} (${command})`;
    return `no log lines ${since} (${command}${why === '' ? '' : `: ${why}`}): is systemd-journald running, and may this user read the journal (root, or group systemd-journal)?`;
  } catch (error) {
    // journalctl missing or not runnable: the failure itself is still reported in full.
    return `${command} could not run: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** `03:00:12`, in the host's time zone as journalctl prints its lines. */
export function clock(at: Date): string {
  return at.toTimeString().slice(0, 8);
}
