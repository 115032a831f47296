/**
 * The systemd supervisor (docs/supervisors/systemd.md): restart the units, then wait until each
 * is active and stays so for the settle window.
 */
import {defineHook, type HookContext, settleService} from 'parako';

import {provider} from '../provides.js';
import {describeState, journalExcerpt, showUnits, type UnitState, unitJudge} from '../systemctl.js';

export const DEFAULT_SETTLE_SECONDS = 5;
const POLL_MS = 250;

export default defineHook('restart', async ({ctx}) => {
  const {units, settleSeconds = DEFAULT_SETTLE_SECONDS} = provider.settingsOf(ctx);
  const before = await checkInstalled(ctx, units);
  await clearStartLimit(ctx, units);
  // Taken before the restart: the failure shows only the journal lines from here on.
  const restartedAt = new Date();
  await restart(ctx, units, restartedAt);
  const settled = await settle(ctx, before, settleSeconds * 1000, restartedAt);
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

async function restart(ctx: HookContext, units: string[], restartedAt: Date): Promise<void> {
  ctx.say(`systemctl restart ${units.join(' ')}`);
  const result = await ctx.exec('systemctl', ['restart', '--', ...units]);
  if (result.code === 0) return;
  const states = await showUnits(ctx, units);
  const notActive = states.filter((state) => state.activeState !== 'active');
  throw new Error(
    [
      `systemctl restart ${units.join(' ')} failed (exit ${result.code}): ${firstLine(result.stderr) || firstLine(result.stdout)}`,
      ...(await Promise.all((notActive.length > 0 ? notActive : states).map((state) => unitReport(ctx, state, `${state.id} did not start`, restartedAt)))),
    ].join('\n'),
  );
}

/**
 * Polls `systemctl show` until every unit has been active, with the same main process and no
 * automatic restart, for `settleMs`. Bounded by the hook's timeout through ctx.signal.
 */
async function settle(ctx: HookContext, before: UnitState[], settleMs: number, restartedAt: Date): Promise<UnitState[]> {
  const judges = before.map((state) => unitJudge(state.nRestarts));
  return settleService(ctx, {
    observe: () => showUnits(ctx, before.map((state) => state.unit)),
    judgeItems: (states) => new Map(states.map((state, i) => [state.id, judges[i]!(state)])),
    settleMs,
    pollMs: POLL_MS,
    explain: async (failure) => {
      const culprit = failure.state.find((state) => state.id === failure.culprit)!;
      return new Error(await unitReport(ctx, culprit, `${culprit.id} did not stay up: ${failure.why}`, restartedAt));
    },
  });
}

/** What went wrong with the unit, its state, and its journal lines since the restart. */
async function unitReport(ctx: HookContext, state: UnitState, headline: string, restartedAt: Date): Promise<string> {
  return [
    headline,
    `state: ${describeState(state)}`,
    await journalExcerpt(ctx, state.id, restartedAt),
  ].join('\n');
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
