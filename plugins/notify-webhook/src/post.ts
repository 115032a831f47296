/**
 * Sends one notification: each attempt bounded by its own timeout, a few more attempts after a
 * network error, no answer, HTTP 5xx, 408 or 429, with growing pauses, and all of it inside the
 * budget the notify hook has (its timeout, which also aborts `signal`). A webhook that hangs
 * must never hold the run: the outcome is already decided and written.
 */
import {setTimeout as sleep} from 'node:timers/promises';

import {type PluginLogger, redact} from 'parako';
import {EnvHttpProxyAgent, request} from 'undici';

import {type Delivery, describeTarget} from './message.js';

export interface PostOptions {
  /** One attempt's limit. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** When the last attempt must be over: the hook's timeout, less a margin to report. */
  deadline: number;
  /** The hook's signal: aborted at its timeout. */
  signal: AbortSignal;
  log: PluginLogger;
  /** The pause before retry n is backoffMs * 2^(n-1), at most 4 times backoffMs. */
  backoffMs?: number;
  /** Values that must never appear in a message (the URL, its path, the token). */
  secrets: string[];
}

export interface Posted {
  status: number;
  attempts: number;
}

/** How long an answer's body is quoted in a message. */
const QUOTED = 200;
/** An attempt with less time than this left is not started. */
const SHORTEST_ATTEMPT_MS = 200;

export async function post(delivery: Delivery, options: PostOptions): Promise<Posted> {
  const where = describeTarget(delivery);
  const backoffMs = options.backoffMs ?? 500;
  const failures: string[] = [];
  let retryAfter: number | undefined;
  let outOfTime = false;
  // HTTP(S)_PROXY and NO_PROXY, as parako's own requests honour them.
  const dispatcher = new EnvHttpProxyAgent();
  try {
    for (let attempt = 1; attempt <= options.retries + 1; attempt++) {
      if (attempt > 1) {
        const pause = Math.max(backoffMs * 2 ** Math.min(attempt - 2, 2), retryAfter ?? 0);
        if (Date.now() + pause + SHORTEST_ATTEMPT_MS > options.deadline) {
          failures.push('no time left for another attempt within the notify hook\'s timeout');
          outOfTime = true;
          break;
        }
        await sleep(pause, undefined, {signal: options.signal});
      }
      const limitMs = Math.min(options.timeoutMs, options.deadline - Date.now());
      const answer = await attemptOnce(delivery, dispatcher, limitMs, options.signal);
      if (answer.ok) {
        options.log.info({to: where, status: answer.status, attempt}, 'outcome posted');
        return {status: answer.status, attempts: attempt};
      }
      const reason = redact(answer.reason, options.secrets);
      failures.push(reason);
      retryAfter = answer.retryAfterMs;
      options.log.info({to: where, attempt, err: reason}, answer.retry ? 'post failed, may retry' : 'post failed');
      if (!answer.retry) break;
    }
  } finally {
    // Nothing is in flight any more: the agent holds at most idle keep-alive sockets.
    await dispatcher.destroy();
  }
  const tries = failures.length - (outOfTime ? 1 : 0);
  throw new Error(`${where} failed: ${failures.join('; ')}${tries > 1 ? ` (${tries} attempts, gave up)` : ''}`);
}

type Answer = {ok: true; status: number} | {ok: false; reason: string; retry: boolean; retryAfterMs?: number};

async function attemptOnce(delivery: Delivery, dispatcher: EnvHttpProxyAgent, limitMs: number, hookSignal: AbortSignal): Promise<Answer> {
  const attemptSignal = AbortSignal.timeout(Math.max(limitMs, 1));
  const signal = AbortSignal.any([hookSignal, attemptSignal]);
  try {
    const response = await request(delivery.url, {method: delivery.method, headers: delivery.headers, body: delivery.body, signal, dispatcher});
    const text = (await response.body.text()).replaceAll(/\s+/g, ' ').trim();
    const status = response.statusCode;
    if (status >= 200 && status < 300) return {ok: true, status};
    const quoted = text === '' ? '' : ` (${text.length > QUOTED ? `${text.slice(0, QUOTED)}…` : text})`;
    const retry = status >= 500 || status === 408 || status === 429;
    return {ok: false, reason: `HTTP ${status}${quoted}`, retry, retryAfterMs: status === 429 ? secondsOf(response.headers['retry-after']) : undefined};
  } catch (error) {
    // The hook's own timeout: the runner has already reported it; stop at once.
    if (hookSignal.aborted) throw hookSignal.reason instanceof Error ? hookSignal.reason : new Error('the notify hook was stopped');
    if (attemptSignal.aborted) return {ok: false, reason: `no answer within ${formatSeconds(limitMs)}`, retry: true};
    return {ok: false, reason: networkReason(error), retry: true};
  }
}

function secondsOf(header: string | string[] | undefined): number | undefined {
  const value = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
}

/** undici's errors name the cause (`connect ECONNREFUSED 127.0.0.1:9`, a TLS or DNS failure). */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ?? error.message;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
