import {createRequire} from 'node:module';
import {setFlagsFromString} from 'node:v8';

import type * as Undici from 'undici';
import type {Agent, Dispatcher} from 'undici';

export interface HttpTimeouts {
  connectMs: number;
  headersMs: number;
  /** Longest silence allowed between two body chunks. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = {connectMs: 15_000, headersMs: 30_000, idleMs: 30_000};

export const MAX_REDIRECTS = 5;

/**
 * The one HTTP client of parako: HTTP(S)_PROXY / NO_PROXY from the environment (undici's
 * EnvHttpProxyAgent), connect / header / idle-body timeouts, and at most 5 redirects.
 */
export function createHttpClient(timeouts: HttpTimeouts = timeoutsFromEnv()): Dispatcher {
  const options: Agent.Options = {
    connect: {timeout: timeouts.connectMs},
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.idleMs,
  };
  // proxyTunnel false: plain http:// goes to the proxy as an ordinary forward request, as
  // squid and most corporate proxies expect (they refuse CONNECT to port 80); https:// still
  // tunnels with CONNECT.
  const {EnvHttpProxyAgent, redirect} = undici();
  return new EnvHttpProxyAgent({...options, proxyTunnel: false} as Undici.EnvHttpProxyAgent.Options).compose(redirect({maxRedirections: MAX_REDIRECTS}));
}

/** The request options parako uses: the dispatcher is always ours (createHttpClient). */
export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {dispatcher: Dispatcher; method?: Dispatcher.HttpMethod};

/** undici's `request(url, options)`, on the given dispatcher. */
export function request(url: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const {dispatcher, ...rest} = options;
  const target = new URL(url);
  return undici().request.call(dispatcher, {...rest, origin: target.origin, path: `${target.pathname}${target.search}`, method: options.method ?? 'GET'});
}

interface UndiciParts {
  EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent;
  redirect: typeof Undici.interceptors.redirect;
  request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
}

let loaded: UndiciParts | undefined;

/**
 * The three parts of undici parako uses, loaded from their own modules: undici's index also
 * loads fetch, WebSocket, the cache and the mocks, 70 ms and 20 MiB more at every start
 * (docs/performance.md, start-up). package.json pins undici's exact version, and
 * test/unit/http.test.ts checks these are the very objects undici exports; if the files ever
 * move, the index is loaded instead.
 */
function undici(): UndiciParts {
  if (loaded !== undefined) return loaded;
  // undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it with Liftoff, then
  // again with TurboFan on a background thread that Node 20 waits for at exit: ~90 ms on every
  // command that fetches, and ~35 MiB of peak RSS. Liftoff's code parses headers and skips over
  // bodies fast enough: a 1 GiB download is no slower (docs/performance.md, start-up).
  setFlagsFromString('--liftoff-only');
  const require = createRequire(import.meta.url);
  try {
    loaded = {
      EnvHttpProxyAgent: require('undici/lib/dispatcher/env-http-proxy-agent.js') as UndiciParts['EnvHttpProxyAgent'],
      redirect: require('undici/lib/interceptor/redirect.js') as UndiciParts['redirect'],
      request: require('undici/lib/api/api-request.js') as UndiciParts['request'],
    };
  } catch {
    const whole = require('undici') as typeof Undici;
    loaded = {EnvHttpProxyAgent: whole.EnvHttpProxyAgent, redirect: whole.interceptors.redirect, request: whole.Dispatcher.prototype.request as UndiciParts['request']};
  }
  return loaded;
}

/** For test/unit/http.test.ts: what createHttpClient and request use. */
export function undiciParts(): Readonly<UndiciParts> {
  return undici();
}

/** PARAKO_HTTP_IDLE_TIMEOUT_MS etc. let a slow link (or a test) tune the timeouts. */
export function timeoutsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpTimeouts {
  const read = (name: string, fallback: number): number => {
    const value = Number(env[name]);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    connectMs: read('PARAKO_HTTP_CONNECT_TIMEOUT_MS', DEFAULT_TIMEOUTS.connectMs),
    headersMs: read('PARAKO_HTTP_HEADERS_TIMEOUT_MS', DEFAULT_TIMEOUTS.headersMs),
    idleMs: read('PARAKO_HTTP_IDLE_TIMEOUT_MS', DEFAULT_TIMEOUTS.idleMs),
  };
}

/**
 * A redirect answer that reached the caller is one the redirect interceptor did not follow:
 * the server sent more than MAX_REDIRECTS in a row (a chain without end), or one without a
 * Location. Said as such, not as an unexpected status.
 */
export function tooManyRedirects(url: string, statusCode: number): string | undefined {
  if (statusCode < 300 || statusCode >= 400) return undefined;
  return `${url} answered HTTP ${statusCode}, a redirect parako does not follow: more than ${MAX_REDIRECTS} in a row, or one without a Location`;
}

/** undici refuses a redirect to the URL it is already on; a loop does not go away on retry. */
export function isRedirectLoop(error: unknown): boolean {
  return error instanceof Error && /redirect loop/i.test(error.message);
}
