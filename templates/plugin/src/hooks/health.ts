/**
 * health: once the new release runs (after the restart, and after parako's own check of
 * `health.url`), probe one more URL. A failure makes the update unhealthy, and parako rolls
 * back to the previous release.
 *
 * Configured in parako.json:  "plugins": {"__PLUGIN_NAME__": {"url": "http://127.0.0.1:9007/ready"}}
 */
import {defineHook, type HookContext} from 'parako';

const PLUGIN_NAME = '__PLUGIN_NAME__';

export default defineHook('health', async ({ctx}) => {
  const {url, timeoutSeconds} = settingsOf(ctx);
  // ctx.signal is aborted when parako stops this hook; the probe has its own, shorter limit.
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutSeconds * 1000)]);
  let response: Response;
  try {
    response = await fetch(url, {signal});
  } catch (error) {
    const why = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutSeconds} s` : causeOf(error);
    throw new Error(`GET ${url} failed: ${why}`);
  }
  await response.body?.cancel();
  if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}, expected 2xx`);
  ctx.log.info({url, status: response.status}, 'probe passed');
});

interface Settings {
  url: string;
  /** How long the probe may take. */
  timeoutSeconds: number;
}

/** This plugin's section of parako.json, checked so that a mistake names the key to fix. */
function settingsOf(ctx: HookContext): Settings {
  const where = `plugins["${PLUGIN_NAME}"] in ${ctx.dir}/parako.json`;
  const section = ctx.config.plugins?.[PLUGIN_NAME];
  if (typeof section !== 'object' || section === null) {
    throw new Error(`${where} is not set: add {"url": "http://..."} there, or unlink the plugin`);
  }
  const {url, timeoutSeconds = 10} = section as Record<string, unknown>;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    throw new Error(`${where}: "url" must be an http(s) URL, not ${JSON.stringify(url)}`);
  }
  if (typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0)) {
    throw new Error(`${where}: "timeoutSeconds" must be a positive number, not ${JSON.stringify(timeoutSeconds)}`);
  }
  return {url, timeoutSeconds};
}

/** fetch() says only "fetch failed"; the reason (ECONNREFUSED, a DNS error) is its cause. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
