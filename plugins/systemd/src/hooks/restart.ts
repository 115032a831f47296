/**
 * The systemd supervisor (docs/supervisors/systemd.md): restart the units, then wait until each
 * is active and stays so for the settle window.
 */
import {isDeepStrictEqual} from 'node:util';

import {defineHook, type HookContext, type Judgement, judgeEach, NotSettled, waitUntilSettled} from 'parako';

import {settingsOf} from '../settings.js';
import {describeState, journalExcerpt, showUnits, type UnitState, unitJudge} from '../systemctl.js';

export const DEFAULT_SETTLE_SECONDS = 5;
const POLL_MS = 250;

export default defineHook('restart', async ({ctx}) => {
  const {units, settleSeconds = DEFAULT_SETTLE_SECONDS} = settingsOf(ctx);
  const before = await checkInstalled(ctx, units);
  await clearStartLimit(ctx, units);
  await restart(ctx, units);
  const settled = await settle(ctx, before, settleSeconds * 1000);
  for (const state of settled) ctx.say(`${state.id} is active (main pid ${state.mainPid}) and stayed up for ${settleSeconds} s`);
});

/** Every unit must be known to systemd: a typo in parako.json should not read as a crash. */
async function checkInstalled(ctx: HookContext, units: string[]): Promise<UnitState[]> {
  const states = await showUnits(ctx, units);
  const missing = states.filter((state) => state.loadState !== 'loaded');
  if (missing.length > 0) {
    const list = missing.map((state) => `${state.id} (LoadState=${state.loadState || 'unknown'})`).join(', ');
    throw new Error(
      `systemd does not have ${list}: install the unit file under /etc/systemd/system, run systemctl daemon-reload, ` +
        'and check supervisor.units in parako.json (docs/supervisors/systemd.md)',
    );
  }
  return states;
}

/**
 * An operator's restart must not be refused because the old release used up StartLimitBurst
 * (a crash loop a minute ago, or the one parako is rolling back from). reset-failed clears the
 * failed state and the start counter, as systemctl itself advises for "started too often".
 */
async function clearStartLimit(ctx: HookContext, units: string[]): Promise<void> {
  const result = await ctx.exec('systemctl', ['reset-failed', '--', ...units]);
  // Harmless when it fails: the restart that follows reports any real problem with the unit.
  if (result.code !== 0) ctx.log.warn({stderr: result.stderr.trim()}, 'systemctl reset-failed failed; restarting anyway');
}

async function restart(ctx: HookContext, units: string[]): Promise<void> {
  ctx.say(`systemctl restart ${units.join(' ')}`);
  const result = await ctx.exec('systemctl', ['restart', '--', ...units]);
  if (result.code === 0) return;
  const states = await showUnits(ctx, units);
  const notActive = states.filter((state) => state.activeState !== 'active');
  throw new Error(
    [
      `systemctl restart ${units.join(' ')} failed (exit ${result.code}): ${firstLine(result.stderr) || firstLine(result.stdout)}`,
      ...(await Promise.all((notActive.length > 0 ? notActive : states).map((state) => unitReport(ctx, state, `${state.id} did not start`)))),
    ].join('\n'),
  );
}

/**
 * Polls `systemctl show` until every unit has been active, with the same main process and no
 * automatic restart, for `settleMs`. Bounded by the hook's timeout through ctx.signal.
 */
async function settle(ctx: HookContext, before: UnitState[], settleMs: number): Promise<UnitState[]> {
  const units = before.map((state) => state.unit);
  const judges = before.map((state) => unitJudge(state.nRestarts));
  const judgeUnits = (states: UnitState[]): Map<string, Judgement> => new Map(states.map((state, i) => [state.id, judges[i]!(state)]));
  // Each unit's judgement when all were first up: a unit judged otherwise since has restarted or stopped.
  let cameUp: Map<string, Judgement> | undefined;
  try {
    return await waitUntilSettled({
      observe: () => showUnits(ctx, units),
      judge(states) {
        const judged = judgeUnits(states);
        const judgement = judgeEach(judged);
        if (judgement.kind === 'up') cameUp ??= judged;
        return judgement;
      },
      settleMs,
      pollMs: POLL_MS,
      signal: ctx.signal,
      log: ctx.log,
    });
  } catch (error) {
    if (!(error instanceof NotSettled)) throw error;
    const states = error.state as UnitState[];
    const reports = await Promise.all(
      culprits(states, judgeUnits(states), cameUp, error.why).map(({state, why}) => unitReport(ctx, state, `${state.id} did not stay up: ${why}`)),
    );
    throw new Error(reports.join('\n'));
  }
}

/**
 * The units a failure is about, each with its reason: those judged failed in the last look;
 * else, when the settle window caught a restart, those no longer up as they came up.
 */
function culprits(states: UnitState[], judged: Map<string, Judgement>, cameUp: Map<string, Judgement> | undefined, why: string): Array<{state: UnitState; why: string}> {
  const failed = states.flatMap((state) => {
    const judgement = judged.get(state.id)!;
    return judgement.kind === 'failed' ? [{state, why: judgement.why}] : [];
  });
  if (failed.length > 0) return failed;
  const changed = states.filter((state) => !isDeepStrictEqual(judged.get(state.id), cameUp?.get(state.id)));
  return (changed.length > 0 ? changed : states).map((state) => ({state, why}));
}

/** What went wrong with the unit, its state, and its last journal lines. */
async function unitReport(ctx: HookContext, state: UnitState, headline: string): Promise<string> {
  return [
    headline,
    `state: ${describeState(state)}`,
    await journalExcerpt(ctx, state.id),
  ].join('\n');
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
