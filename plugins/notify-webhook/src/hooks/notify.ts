/**
 * notify: posts the outcome of the update or rollback to the webhook of
 * `plugins["@parako/plugin-notify-webhook"]` (docs/notify/webhook.md). It never changes the
 * outcome: when the webhook cannot be reached it throws after its last attempt, and parako
 * logs that one line (stderr and parako.log) and exits as it would have.
 */
import {randomUUID} from 'node:crypto';
import {hostname} from 'node:os';

import {defineHook} from 'parako';

import {deliveryFor} from '../message.js';
import {post} from '../post.js';
import {PLUGIN, provider} from '../provides.js';
import {readSecrets} from '../secrets.js';

/** parako's default notify timeout (docs/hooks.md), when hooks.timeoutSeconds.notify is not set. */
const DEFAULT_HOOK_TIMEOUT_SECONDS = 30;
/** Time kept back from the hook's timeout, so that the plugin's own message says what failed. */
const REPORT_MARGIN_MS = 1000;

export default defineHook('notify', async ({ctx}) => {
  const started = Date.now();
  const settings = provider.settingsOf(ctx);
  const {outcome} = ctx.outcome;
  if (settings.on !== undefined && !(settings.on as readonly string[]).includes(outcome)) {
    ctx.log.info({outcome, on: settings.on}, `not posted: plugins.${PLUGIN}.on does not list ${outcome}`);
    return;
  }
  const secrets = await readSecrets(settings);
  const delivery = deliveryFor(settings, secrets, {app: ctx.app, host: hostname(), operation: ctx.operation, outcome: ctx.outcome}, `parako-${randomUUID()}`);
  await post(delivery, {
    timeoutMs: settings.timeoutSeconds * 1000,
    retries: settings.retries,
    deadline: started + budgetMs(hookTimeoutSeconds(ctx.config.hooks) * 1000),
    signal: ctx.signal,
    log: ctx.log,
    secrets: secretsOf(secrets),
  });
});

/** The hook's time less the margin to report; a hook timeout under 4 s keeps a quarter of it. */
function budgetMs(hookMs: number): number {
  return hookMs - Math.min(REPORT_MARGIN_MS, hookMs / 4);
}

function hookTimeoutSeconds(hooks: unknown): number {
  const seconds = (hooks as {timeoutSeconds?: {notify?: unknown}} | undefined)?.timeoutSeconds?.notify;
  return typeof seconds === 'number' ? seconds : DEFAULT_HOOK_TIMEOUT_SECONDS;
}

/**
 * The URL whole, its path and query, each long part of the path (Slack's token, should a
 * server echo it alone), and Matrix's token: none may be printed.
 */
function secretsOf(secrets: {url: string; accessToken?: string}): string[] {
  const url = new URL(secrets.url);
  return [secrets.url, `${url.pathname}${url.search}`, ...url.pathname.split('/').filter((part) => part.length >= 16), ...(secrets.accessToken === undefined ? [] : [secrets.accessToken])];
}
