import type {Release} from '../hooks/context.js';
import {messageOf} from './errors.js';
import {checkHealth, describeHealth} from './health.js';
import type {Pipeline} from './pipeline.js';

export interface BringUpResult {
  healthy: boolean;
  /** Why not, in the operator's words. */
  reason?: string;
}

/**
 * Phases 10–11: the supervisor plugins restart the service, then the core's HTTP check of
 * `health.url` and every `health` hook must pass. Failures are returned, not thrown: the
 * caller decides whether to roll back. The second check of an automatic rollback names the
 * releases the other way round and journals nothing, so the journal keeps saying "rollback".
 */
export async function restartAndCheck(run: Pipeline, again?: {releases: {from?: Release; to: Release}}): Promise<BringUpResult> {
  const {env} = run;
  const releases = again?.releases ?? run.releases;
  if (again === undefined) await run.phase('restart');
  const base = run.context({releases});
  // Only plugins that act with this parako.json are here: idle supervisor plugins restart nothing.
  const restarters = [...new Set(env.hooks.at('restart').map((hook) => hook.plugin))];
  if (restarters.length === 0) {
    env.out.say(
      env.config.supervisor === undefined
        ? 'no supervisor configured: restart the service yourself so it runs the new release'
        : `warning: supervisor.type is "${env.config.supervisor.type}" but no installed plugin acts at the restart hook (parako hooks says why); restart the service yourself`,
    );
  } else {
    try {
      await env.hooks.run('restart', base);
    } catch (error) {
      return {healthy: false, reason: messageOf(error)};
    }
    env.out.say(env.config.supervisor === undefined ? `restart hooks ran (${restarters.join(', ')}); no supervisor configured` : 'service restarted');
  }
  if (again === undefined) await run.phase('health');
  const health = env.config.health;
  let answered: string | undefined;
  if (health !== undefined) {
    const result = await checkHealth({
      url: health.url,
      timeoutSeconds: health.timeoutSeconds,
      expectVersion: health.expectVersion === true ? releases.to.version : undefined,
      client: env.http,
    });
    if (!result.healthy) return {healthy: false, reason: describeHealth(health.url, result)};
    answered = `${health.url} answered HTTP ${result.status} after ${result.attempts} check(s)`;
  }
  try {
    await env.hooks.run('health', base);
  } catch (error) {
    // Not "healthy: … answered 200" first: a failing health hook makes the release unhealthy.
    return {healthy: false, reason: `${answered === undefined ? '' : `${answered}, but `}${messageOf(error)}`};
  }
  // Said once every check passed: after exit 8 the last line must not read "healthy".
  if (answered !== undefined) env.out.say(`healthy: ${answered}`);
  return {healthy: true};
}
