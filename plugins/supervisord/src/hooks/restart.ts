/**
 * restart for programs run by supervisord (docs/supervisors/supervisord.md): check that
 * supervisord knows every program, restart them, then wait until each is RUNNING with a new
 * pid and keeps that pid for the settle window (a crash loop is a failure).
 */
import {defineHook, type HookContext, settleService} from 'parako';

import {judgePrograms, stateOf} from '../judge.js';
import {provider, type SupervisordSettings} from '../provides.js';
import {type LogMarks, type ProgramError, type ProgramStatus, Supervisorctl} from '../supervisorctl.js';

/** `supervisor.settleSeconds`, when not set. */
export const DEFAULT_SETTLE_SECONDS = 3;

export interface Timing {
  /** How long every program must stay RUNNING with the same pid. */
  settleMs: number;
  pollMs: number;
}

export default defineHook('restart', async ({ctx}) => {
  const settings = provider.settingsOf(ctx);
  await restartPrograms(ctx, settings, {settleMs: (settings.settleSeconds ?? DEFAULT_SETTLE_SECONDS) * 1000, pollMs: 500});
});

export async function restartPrograms(ctx: HookContext, settings: SupervisordSettings, timing: Timing): Promise<void> {
  const supervisorctl = new Supervisorctl(ctx, settings);
  const before = await supervisorctl.statusOf(settings.programs);
  // The logs' ends and the time, taken before the restart: the failure shows only what came after.
  const marks = new Map<string, LogMarks>();
  for (const program of before) marks.set(program.name, await supervisorctl.markLogs(program.name));
  const restartedAt = new Date();
  ctx.say(supervisorctl.line(['restart', ...settings.programs]));
  const refused = await supervisorctl.restart(settings.programs);
  // What it refused shows in the status that follows (BACKOFF, FATAL, the old pid): judged there.
  if (refused.length > 0) ctx.log.info({errors: refused}, 'supervisorctl restart reported errors');
  const settled = await settle(ctx, supervisorctl, settings.programs, before, timing, refused, {marks, restartedAt});
  for (const program of settled) {
    ctx.log.info({program: program.name, pid: program.pid}, 'running with a new pid');
    ctx.say(`${program.name} is RUNNING with new pid ${program.pid} (steady for ${timing.settleMs / 1000} s)`);
  }
}

/**
 * Polls `supervisorctl status` until every program is RUNNING with a pid it did not have
 * before and keeps it for the settle window. Bounded by ctx.signal (the hook's timeout).
 */
async function settle(
  ctx: HookContext,
  supervisorctl: Supervisorctl,
  programs: string[],
  before: ProgramStatus[],
  timing: Timing,
  refused: ProgramError[],
  logs: {marks: Map<string, LogMarks>; restartedAt: Date},
): Promise<ProgramStatus[]> {
  return settleService(ctx, {
    observe: () => supervisorctl.statusOf(programs),
    judgeItems: (look) => judgePrograms(look, before),
    settleMs: timing.settleMs,
    pollMs: timing.pollMs,
    explain: async (failure) => {
      const name = failure.culprit;
      const program = failure.state.find((candidate) => candidate.name === name);
      const said = refused.find((entry) => entry.name === name);
      return new Error(
        [
          `supervisord program ${name} did not stay up: ${failure.why}`,
          // A failed judgement already names the state; a crash caught in the window does not.
          ...(program === undefined || failure.failed ? [] : [`state: ${stateOf(program)}`]),
          ...(said === undefined ? [] : [`supervisorctl restart said: ${said.name}: ERROR (${said.error})`]),
          await supervisorctl.logExcerpt(name, logs.marks.get(name) ?? {}, logs.restartedAt),
        ].join('\n'),
      );
    },
  });
}
