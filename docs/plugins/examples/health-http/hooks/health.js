// @ts-check
/**
 * parako-plugin-health-http, `health` hook: every configured URL must answer as expected
 * before parako keeps the new release. A thrown error fails the health phase, and parako
 * then rolls the update back by itself (exit 7).
 *
 * It uses Node's global `fetch` (Node's built-in undici), so the plugin has no dependencies.
 */
import {setTimeout as sleep} from 'node:timers/promises';

import {PLUGIN, readSettings} from './settings.js';

/** Only the start of a body is read: enough to find the expected text and to quote it. */
const MAX_BODY_CHARS = 64 * 1024;

/** @param {{ctx: import('parako').HookContext}} options */
export default async function health({ctx}) {
  const settings = readSettings(ctx.config);
  if (settings === undefined) {
    ctx.log.warn(`installed but not configured: add plugins["${PLUGIN}"].urls to parako.json; no extra health checks ran`);
    return;
  }
  // The service was just restarted: failing probes are tried again, once a second, for waitSeconds.
  const started = Date.now();
  let tries = 1;
  let problems = await checkAll(settings, ctx.signal);
  while (problems.length > 0 && Date.now() - started + 1000 <= settings.waitSeconds * 1000) {
    await sleep(1000, undefined, {signal: ctx.signal});
    tries++;
    problems = await checkAll(settings, ctx.signal);
  }
  if (problems.length > 0) {
    const retried = tries > 1 ? ` (still failing after ${tries} tries in ${Math.round((Date.now() - started) / 1000)} s)` : '';
    throw new Error(`${problems.join('; ')}${retried}`);
  }
  ctx.say(`healthy: ${settings.probes.map((probe) => probe.url).join(', ')} (${PLUGIN})`);
}

/**
 * The problems of every probe, in the operator's words; empty when all pass.
 * @param {import('./settings.js').Settings} settings
 * @param {AbortSignal} signal
 */
async function checkAll(settings, signal) {
  const problems = [];
  for (const probe of settings.probes) {
    const problem = await check(probe, settings.timeoutSeconds, signal);
    if (problem !== undefined) problems.push(problem);
  }
  return problems;
}

/**
 * One GET; undefined when the answer is the expected one.
 * @param {import('./settings.js').Probe} probe
 * @param {number} timeoutSeconds
 * @param {AbortSignal} signal  ctx.signal: aborted when the hook's own timeout is reached
 * @returns {Promise<string | undefined>}
 */
async function check(probe, timeoutSeconds, signal) {
  const expected = probe.status === undefined ? '2xx' : `HTTP ${probe.status}`;
  try {
    // redirect: manual, so a redirect to a login page is reported instead of passing as 200.
    const response = await fetch(probe.url, {
      redirect: 'manual',
      headers: {accept: '*/*'},
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutSeconds * 1000)]),
    });
    const statusOk = probe.status === undefined ? response.status >= 200 && response.status < 300 : response.status === probe.status;
    const body = await readStart(response);
    const excerpt = body.replaceAll(/\s+/g, ' ').trim().slice(0, 200);
    if (!statusOk) return `${probe.url} answered HTTP ${response.status}, expected ${expected}${excerpt ? ` (body: "${excerpt}")` : ''}`;
    if (probe.bodyIncludes !== undefined && !body.includes(probe.bodyIncludes)) {
      return `${probe.url} answered HTTP ${response.status} but its body does not contain "${probe.bodyIncludes}" (body: "${excerpt}")`;
    }
    return undefined;
  } catch (error) {
    if (signal.aborted) throw error; // the hook's timeout: parako reports that itself
    if (error instanceof Error && error.name === 'TimeoutError') return `${probe.url} did not answer within ${timeoutSeconds} s`;
    return `${probe.url} could not be reached: ${reasonOf(error)}`;
  }
}

/**
 * The first MAX_BODY_CHARS of a body; the rest is not downloaded.
 * @param {Response} response
 */
async function readStart(response) {
  if (response.body === null) return '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  let text = '';
  while (text.length < MAX_BODY_CHARS) {
    const {done, value} = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, {stream: true});
  }
  await reader.cancel();
  return text;
}

/**
 * fetch says "fetch failed"; the cause says why (ECONNREFUSED, a TLS error, a DNS failure).
 * @param {unknown} error
 */
function reasonOf(error) {
  if (!(error instanceof Error)) return String(error);
  const cause = /** @type {{message?: unknown} | undefined} */ (error.cause);
  return typeof cause?.message === 'string' ? cause.message : error.message;
}
