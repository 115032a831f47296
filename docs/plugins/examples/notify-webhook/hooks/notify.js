// @ts-check
/**
 * parako-plugin-notify-webhook, `notify` hook: POSTs the outcome of the operation as JSON to
 * a webhook. The body's `text` is what Slack (and Mattermost, Rocket.Chat, …) show; the other
 * fields are the whole outcome, for anything that reads JSON.
 *
 * A failed POST throws: parako logs it and the outcome (and exit code) stays what it was.
 * It uses Node's global `fetch` (Node's built-in undici), so the plugin has no dependencies.
 */
import {hostname} from 'node:os';

const PLUGIN = 'parako-plugin-notify-webhook';

/** @param {{ctx: import('parako').HookContext}} options */
export default async function notify({ctx}) {
  const settings = readSettings(ctx.config);
  if (settings === undefined) {
    ctx.log.warn(`installed but not configured: add plugins["${PLUGIN}"].url to parako.json; nothing was sent`);
    return;
  }
  const outcome = ctx.outcome;
  if (outcome === undefined) throw new Error(`${PLUGIN} is a notify hook; register it under "notify" in oclif.hooks`);
  const text = `${ctx.app}: ${outcome.outcome} ${versionOf(outcome.from)} -> ${versionOf(outcome.to)} (exit ${outcome.code}): ${outcome.message}`;
  const body = JSON.stringify({text, app: ctx.app, host: hostname(), operation: ctx.operation, ...outcome});
  // The webhook URL is a secret (a Slack URL carries its token): messages name its host only.
  const where = `POST ${new URL(settings.url).origin}/…`;
  let response;
  try {
    response = await fetch(settings.url, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body,
      redirect: 'error',
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(settings.timeoutSeconds * 1000)]),
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') throw new Error(`${where} did not answer within ${settings.timeoutSeconds} s`);
    throw new Error(`${where} failed: ${reasonOf(error)}`);
  }
  const answer = (await response.text()).replaceAll(/\s+/g, ' ').trim().slice(0, 200);
  if (!response.ok) throw new Error(`${where} answered HTTP ${response.status}${answer ? `: ${answer}` : ''}`);
  ctx.log.info({status: response.status}, 'webhook notified');
}

/**
 * `plugins["parako-plugin-notify-webhook"]` in parako.json; undefined when there is none.
 * `${NAME}` in the URL was already replaced by parako from the environment.
 * @param {import('parako').HostConfig} config
 * @returns {{url: string, timeoutSeconds: number} | undefined}
 */
function readSettings(config) {
  const raw = config.plugins?.[PLUGIN];
  if (raw === undefined) return undefined;
  const where = `parako.json plugins["${PLUGIN}"]`;
  const settings = /** @type {{url?: unknown, timeoutSeconds?: unknown}} */ (typeof raw === 'object' && raw !== null ? raw : {});
  if (typeof settings.url !== 'string' || !/^https?:\/\//.test(settings.url) || !URL.canParse(settings.url)) {
    throw new Error(`${where}.url must be an http:// or https:// URL`);
  }
  const timeoutSeconds = settings.timeoutSeconds ?? 10;
  if (typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0)) throw new Error(`${where}.timeoutSeconds must be a number of seconds`);
  return {url: settings.url, timeoutSeconds};
}

/** @param {string | null} version */
function versionOf(version) {
  return version === null ? '(none)' : `v${version}`;
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
