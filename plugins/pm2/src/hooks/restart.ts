/**
 * restart for apps run by pm2 (docs/supervisors/pm2.md). pm2 reload returns 0 even when the
 * new code crashes at start, so success is what `pm2 jlist` shows afterwards: every instance
 * online with a new pid, and still the same process after a settle window (a crash loop is a
 * failure).
 */
import {defineHook, type HookContext, type Judgement, settleService} from 'parako';

import {count, type LogMarks, Pm2, type Pm2Instance} from '../pm2.js';
import {provider} from '../provides.js';
import type {Pm2Settings} from '../settings.js';

export interface Timing {
  /** How long every instance must stay the same online process. */
  settleMs: number;
  pollMs: number;
  /** Pause before a failed reload/restart is tried again. */
  retryMs: number;
}

/** `supervisor.settleSeconds`, when not set. */
const DEFAULT_SETTLE_SECONDS = 3;

/** Each app's instances, from one `pm2 jlist`. */
type Apps = Map<string, Pm2Instance[]>;

/** Each app's log files with their sizes before the restart, and when it began. */
interface Logs {
  marks: Map<string, LogMarks>;
  restartedAt: Date;
}

export default defineHook('restart', async ({ctx}) => {
  const settings = provider.settingsOf(ctx);
  await restartApps(ctx, settings, {settleMs: (settings.settleSeconds ?? DEFAULT_SETTLE_SECONDS) * 1000, pollMs: 500, retryMs: 1000});
});

export async function restartApps(ctx: HookContext, settings: Pm2Settings, timing: Timing): Promise<void> {
  const action = settings.mode ?? 'reload';
  const pm2 = await Pm2.connect(ctx, settings);
  const listed = await pm2.list();
  const before = runningPids(pm2, listed, settings.apps);
  // Where each log file ends, and when, before the restart: a failure shows only what came after.
  const marks = new Map<string, LogMarks>();
  for (const app of settings.apps) marks.set(app, await pm2.markLogs(instancesOf(listed, app).flatMap((instance) => instance.logFiles)));
  const logs: Logs = {marks, restartedAt: new Date()};
  for (const app of settings.apps) {
    try {
      await pm2.apply(action, app, timing.retryMs);
    } catch (error) {
      throw await failure(pm2, app, `could not be ${action}ed: ${(error as Error).message}`, logs);
    }
  }
  const running = await settle(ctx, pm2, before, timing, logs);
  for (const [app, instances] of running) {
    const pids = instances.map((instance) => instance.pid);
    ctx.log.info({app, action, pids}, 'online with new pids');
    ctx.say(`${action}ed ${app}: ${count(instances.length, 'instance')} online with new pids ${pids.join(', ')} (steady for ${timing.settleMs / 1000} s)`);
  }
}

/** The pids each app runs now, so the new processes can be told from the old ones. */
function runningPids(pm2: Pm2, listed: Pm2Instance[], apps: string[]): Map<string, Set<number>> {
  const pids = new Map<string, Set<number>>();
  for (const app of apps) {
    const instances = instancesOf(listed, app);
    if (instances.length === 0) {
      const names = [...new Set(listed.map((instance) => instance.name))];
      throw new Error(
        `${pm2.describe()} has no app named "${app}" (it runs ${names.length === 0 ? 'nothing' : names.map((name) => `"${name}"`).join(', ')}); ` +
          'supervisor.apps must name apps already started with pm2 start, and supervisor.runAs/home must be the user and PM2_HOME that started them',
      );
    }
    pids.set(app, new Set(instances.map((instance) => instance.pid).filter((pid) => pid > 0)));
  }
  return pids;
}

/**
 * Polls `pm2 jlist` until every instance of every app is online with a pid it did not have
 * before, and stays the same process for the settle window. Bounded by ctx.signal (the hook's timeout).
 */
async function settle(ctx: HookContext, pm2: Pm2, before: Map<string, Set<number>>, timing: Timing, logs: Logs): Promise<Apps> {
  return settleService(ctx, {
    observe: async (): Promise<Apps> => {
      const listed = await pm2.list();
      return new Map([...before.keys()].map((app) => [app, instancesOf(listed, app)]));
    },
    judgeItems: (apps) => new Map([...apps].map(([app, instances]) => [app, judgeApp(instances, before.get(app)!)])),
    settleMs: timing.settleMs,
    pollMs: timing.pollMs,
    explain: (notSettled) => failure(pm2, notSettled.culprit, `did not stay up: ${notSettled.why}`, logs, notSettled.state.get(notSettled.culprit)),
  });
}

/**
 * One app in one look: up once every instance is online with a new pid, its identity the
 * instances' pids and restart counts; failed when pm2 gave up on it or no longer lists it.
 */
function judgeApp(instances: Pm2Instance[], oldPids: Set<number>): Judgement {
  if (instances.length === 0) return {kind: 'failed', why: 'pm2 no longer lists it (deleted during the restart?)'};
  const gaveUp = instances.find((instance) => instance.status === 'errored' || instance.status === 'stopped');
  if (gaveUp !== undefined) return {kind: 'failed', why: `pm2 shows it ${gaveUp.status}`};
  const old = instances.find((instance) => !isNewAndOnline(instance, oldPids));
  if (old !== undefined) return {kind: 'waiting', what: `instance ${old.id} ${old.status === 'online' ? 'still on its old pid' : old.status}`};
  // Same processes, same restart counts: nothing crashed in between.
  return {kind: 'up', identity: instances.map((instance) => `${instance.id}:${instance.pid}:${instance.restarts}`).join(',')};
}

/** The instances of one app; "_old_<id>" entries are processes a reload is still stopping. */
function instancesOf(listed: Pm2Instance[], app: string): Pm2Instance[] {
  return listed.filter((instance) => instance.name === app && Number.isInteger(instance.id));
}

function isNewAndOnline(instance: Pm2Instance, oldPids: Set<number>): boolean {
  return instance.status === 'online' && instance.pid > 0 && !oldPids.has(instance.pid);
}

/** What failed, each instance's state, and what the app logged since the restart. */
async function failure(pm2: Pm2, app: string, what: string, logs: Logs, instances: Pm2Instance[] = []): Promise<Error> {
  const states = instances.map((instance) => `instance ${instance.id} ${instance.status} (pid ${instance.pid}, ${count(instance.restarts, 'restart')})`);
  const lines = [`pm2 app ${app} ${what}${states.length > 0 ? `: ${states.join('; ')}` : ''}`, await pm2.logsSince(logs.marks.get(app) ?? new Map(), logs.restartedAt)];
  return new Error(lines.join('\n'));
}
