/**
 * The systemd supervisor (supervisor: {"type": "systemd", "units": [...], "settleSeconds"?}):
 * restart the units, then wait until each is active and stays so for the settle window.
 */
import {setTimeout as sleep} from 'node:timers/promises';

import {defineHook, type HookContext} from 'parako';

import {SettleWatch} from '../settle.js';
import {describeState, journalExcerpt, showUnits, type UnitState} from '../systemctl.js';

export const DEFAULT_SETTLE_SECONDS = 5;
const POLL_MS = 250;

export default defineHook('restart', async ({ctx}) => {
  const supervisor = ctx.config.supervisor;
  if (supervisor?.type !== 'systemd') return;
  const {units} = supervisor;
  const settleSeconds = supervisor.settleSeconds ?? DEFAULT_SETTLE_SECONDS;

  const before = await checkInstalled(ctx, units);
  await clearStartLimit(ctx, units);
  await restart(ctx, units);
  const settled = await waitUntilSettled(ctx, units, before, settleSeconds * 1000);
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
async function waitUntilSettled(ctx: HookContext, units: string[], before: UnitState[], settleMs: number): Promise<UnitState[]> {
  const watches = units.map((unit, i) => new SettleWatch(unit, before[i]!.nRestarts, settleMs));
  for (;;) {
    const states = await showUnits(ctx, units);
    const now = Date.now();
    const verdicts = states.map((state, i) => ({state, verdict: watches[i]!.observe(state, now)}));
    const failures = verdicts.flatMap(({state, verdict}) => (verdict.kind === 'failed' ? [{state, why: verdict.why}] : []));
    if (failures.length > 0) {
      const reports = await Promise.all(
        failures.map(({state, why}) => unitReport(ctx, state, `${state.id} did not stay up: ${why}`)),
      );
      throw new Error(reports.join('\n'));
    }
    if (verdicts.every(({verdict}) => verdict.kind === 'settled')) return states;
    await sleep(POLL_MS, undefined, {signal: ctx.signal});
  }
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
