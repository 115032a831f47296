import {setTimeout as sleep} from 'node:timers/promises';
import type {Dispatcher} from 'undici';

import {describeNetworkError} from './feed.js';
import {request} from './http.js';

export interface HealthCheck {
  url: string;
  timeoutSeconds: number;
  /** When set, the body must contain this version (catches a restart that kept old code). */
  expectVersion?: string;
  client: Dispatcher;
  signal?: AbortSignal;
}

export interface HealthResult {
  healthy: boolean;
  attempts: number;
  status?: number;
  bodyExcerpt?: string;
  error?: string;
  durationMs: number;
}

/** Polls `health.url` with backoff until it answers 2xx (and the version, if asked) or time runs out. */
export async function checkHealth(check: HealthCheck): Promise<HealthResult> {
  const started = Date.now();
  const deadline = started + check.timeoutSeconds * 1000;
  let delay = 250;
  let last: HealthResult = {healthy: false, attempts: 0, durationMs: 0, error: 'not checked'};
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    const perRequest = AbortSignal.timeout(Math.max(500, Math.min(10_000, remaining)));
    const signal = check.signal === undefined ? perRequest : AbortSignal.any([check.signal, perRequest]);
    try {
      const response = await request(check.url, {dispatcher: check.client, signal, headers: {accept: '*/*'}});
      const body = (await response.body.text()).slice(0, 2000);
      const excerpt = body.replaceAll(/\s+/g, ' ').trim().slice(0, 200);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      const versionOk = check.expectVersion === undefined || body.includes(check.expectVersion);
      last = {
        healthy: ok && versionOk,
        attempts: attempt,
        status: response.statusCode,
        bodyExcerpt: excerpt,
        error: ok && !versionOk ? `the response does not mention version ${check.expectVersion}` : undefined,
        durationMs: Date.now() - started,
      };
      if (last.healthy) return last;
    } catch (error) {
      last = {healthy: false, attempts: attempt, error: describeNetworkError(error), durationMs: Date.now() - started};
    }
    if (check.signal?.aborted || Date.now() + delay > deadline) return {...last, durationMs: Date.now() - started};
    await sleep(delay, undefined, {signal: check.signal}).catch(() => undefined);
    delay = Math.min(delay * 2, 2000);
  }
}

export function describeHealth(url: string, result: HealthResult): string {
  const parts = [`${url} did not become healthy within ${Math.round(result.durationMs / 1000)} s (${result.attempts} checks)`];
  if (result.status !== undefined) parts.push(`last answer HTTP ${result.status}`);
  if (result.error !== undefined) parts.push(result.error);
  if (result.bodyExcerpt) parts.push(`body: "${result.bodyExcerpt}"`);
  return parts.join('; ');
}
