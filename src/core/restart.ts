import type {Release} from '../hooks/context.js';
import {hookContext} from './context.js';
import {messageOf} from './errors.js';
import {checkHealth, describeHealth} from './health.js';
import type {Journal} from './journal.js';
import type {OperationEnv, OperationState} from './operation.js';

export interface BringUpResult {
  healthy: boolean;
  /** Why not, in the operator's words. */
  reason?: string;
}

/**
 * Phases 10–11: the supervisor plugins restart the service, then the core's HTTP check of
 * `health.url` and every `health` hook must pass. Failures are returned, not thrown: the
 * caller decides whether to roll back. `journal` records the health phase; the second check
 * of an automatic rollback passes none, so the journal keeps saying "rollback".
 */
export async function restartAndCheck(env: OperationEnv, state: OperationState, releases: {from?: Release; to: Release}, journal?: Journal): Promise<BringUpResult> {
  // Past the swap the operation must finish: hooks are only stopped by their own timeouts.
  const signal = new AbortController().signal;
  const base = hookContext(env, state, releases, signal);
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
  await journal?.phase('health');
  const health = env.config.health;
  if (health !== undefined) {
    const result = await checkHealth({
      url: health.url,
      timeoutSeconds: health.timeoutSeconds,
      expectVersion: health.expectVersion === true ? releases.to.version : undefined,
      client: env.http,
    });
    if (!result.healthy) return {healthy: false, reason: describeHealth(health.url, result)};
    env.out.say(`healthy: ${health.url} answered HTTP ${result.status} after ${result.attempts} check(s)`);
  }
  try {
    await env.hooks.run('health', base);
  } catch (error) {
    return {healthy: false, reason: messageOf(error)};
  }
  return {healthy: true};
}
