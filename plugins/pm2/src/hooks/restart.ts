/**
 * restart (DESIGN §6 step 10) for apps run by pm2 (`supervisor.type: "pm2"`). pm2 reload
 * returns 0 even when the new code crashes at start, so success is what `pm2 jlist` shows
 * afterwards: every instance online with a new pid, and still the same process after a
 * settle window (a crash loop is a failure).
 */
import {setTimeout as sleep} from 'node:timers/promises';

import type {HookContext} from 'parako';

import {count, Pm2, type Pm2Instance, type Pm2Settings} from '../pm2.js';

export interface Timing {
  /** How long every instance must stay the same online process. */
  settleMs: number;
  pollMs: number;
  /** Pause before a failed reload/restart is tried again. */
  retryMs: number;
}

/** `supervisor.settleSeconds`, when not set. */
const DEFAULT_SETTLE_SECONDS = 3;

export default async function restart({ctx}: {ctx: HookContext}): Promise<void> {
  const supervisor = ctx.config.supervisor;
  if (supervisor?.type !== 'pm2') return; // another supervisor's plugin restarts the service
  await restartApps(ctx, supervisor, {settleMs: (supervisor.settleSeconds ?? DEFAULT_SETTLE_SECONDS) * 1000, pollMs: 500, retryMs: 1000});
}

export async function restartApps(ctx: HookContext, settings: Pm2Settings, timing: Timing): Promise<void> {
  const action = settings.mode ?? 'reload';
  const pm2 = await Pm2.connect(ctx, settings);
  const before = await runningPids(pm2, settings.apps);
  for (const app of settings.apps) {
    try {
      await pm2.apply(action, app, timing.retryMs);
    } catch (error) {
      throw await failure(pm2, app, `could not be ${action}ed: ${(error as Error).message}`);
    }
  }
  const running = await waitUntilSettled(ctx, pm2, before, timing);
  for (const [app, instances] of running) {
    const pids = instances.map((instance) => instance.pid);
    ctx.log.info({app, action, pids}, 'online with new pids');
    ctx.say(`${action}ed ${app}: ${count(instances.length, 'instance')} online with new pids ${pids.join(', ')} (steady for ${timing.settleMs / 1000} s)`);
  }
}

/** The pids each app runs now, so the new processes can be told from the old ones. */
async function runningPids(pm2: Pm2, apps: string[]): Promise<Map<string, Set<number>>> {
  const listed = await pm2.list();
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
 * before, then for the settle window: any restart in that window fails. Bounded by ctx.signal
 * (the hook's timeout).
 */
async function waitUntilSettled(ctx: HookContext, pm2: Pm2, before: Map<string, Set<number>>, timing: Timing): Promise<Map<string, Pm2Instance[]>> {
  let steady: {since: number; fingerprints: Map<string, string>} | undefined;
  for (let poll = 1; ; poll++) {
    const listed = await pm2.list();
    const now = new Map([...before.keys()].map((app) => [app, instancesOf(listed, app)]));
    for (const [app, instances] of now) {
      if (instances.length === 0) throw await failure(pm2, app, 'is no longer listed by pm2 (deleted during the restart?)');
      const gaveUp = instances.find((instance) => instance.status === 'errored' || instance.status === 'stopped');
      if (gaveUp !== undefined) throw await failure(pm2, app, `did not come back: pm2 shows it ${gaveUp.status}`, instances);
    }
    const waiting = [...now].find(([app, instances]) => !instances.every((instance) => isNewAndOnline(instance, before.get(app)!)));
    if (waiting === undefined) {
      const fingerprints = new Map([...now].map(([app, instances]) => [app, fingerprint(instances)]));
      steady ??= {since: Date.now(), fingerprints};
      const restarted = [...fingerprints].find(([app, print]) => steady!.fingerprints.get(app) !== print);
      if (restarted !== undefined) {
        throw await failure(pm2, restarted[0], `restarted within ${timing.settleMs / 1000} s of coming up (crash loop?)`, now.get(restarted[0]));
      }
      if (Date.now() - steady.since >= timing.settleMs) return now;
    } else if (steady !== undefined) {
      throw await failure(pm2, waiting[0], `left "online" within ${timing.settleMs / 1000} s of coming up (crash loop?)`, waiting[1]);
    } else if (poll % 20 === 0) {
      ctx.log.info({app: waiting[0], instances: waiting[1]}, 'waiting for new processes to be online');
    }
    await sleep(timing.pollMs, undefined, {signal: ctx.signal}).catch((error: unknown) => {
      // The hook's timeout: parako reports it; the log keeps what pm2 showed last.
      ctx.log.error({apps: Object.fromEntries(now)}, 'stopped while waiting for new pm2 processes to be online');
      throw error;
    });
  }
}

/** The instances of one app; "_old_<id>" entries are processes a reload is still stopping. */
function instancesOf(listed: Pm2Instance[], app: string): Pm2Instance[] {
  return listed.filter((instance) => instance.name === app && Number.isInteger(instance.id));
}

function isNewAndOnline(instance: Pm2Instance, oldPids: Set<number>): boolean {
  return instance.status === 'online' && instance.pid > 0 && !oldPids.has(instance.pid);
}

/** Same processes, same restart counts: nothing crashed in between. */
function fingerprint(instances: Pm2Instance[]): string {
  return instances.map((instance) => `${instance.id}:${instance.pid}:${instance.restarts}`).join(',');
}

/** What failed, each instance's state, and the end of the app's logs. */
async function failure(pm2: Pm2, app: string, what: string, instances: Pm2Instance[] = []): Promise<Error> {
  const states = instances.map((instance) => `instance ${instance.id} ${instance.status} (pid ${instance.pid}, ${count(instance.restarts, 'restart')})`);
  const lines = [`pm2 app ${app} ${what}${states.length > 0 ? `: ${states.join('; ')}` : ''}`, `last lines of pm2 logs ${app}:`, await pm2.logs(app)];
  return new Error(lines.join('\n'));
}
