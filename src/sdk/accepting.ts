/**
 * Waiting until a restarted service accepts connections again (docs/supervisors.md, "Zero
 * downtime"). A supervisor reports a restart done once the process runs, which for most apps
 * is before they listen: the health gate would then start polling a port that refuses, and a
 * graceful reload would look finished while requests still queue. settleService calls this
 * after the settle window, with health.url's address, so the restart hook ends only when the
 * new process answers.
 *
 * "Accepts" is judged at the protocol the operator gave: for http:, any HTTP response (a 500
 * too: whether it is healthy is the health gate's job, which runs next); for https:, a
 * completed TLS handshake (nothing is sent, so the certificate is left to the health gate).
 * A bare TCP connect is not enough: Docker's userland proxy accepts on a published port even
 * while nothing listens in the container, and resets the connection right after.
 */
import {setTimeout as sleep} from 'node:timers/promises';

/** Where the service should accept connections: health.url, minus credentials. */
export interface AcceptTarget {
  protocol: 'http:' | 'https:';
  host: string;
  port: number;
  /** For http:, the path asked for (health.url's); for https:, unused. */
  path: string;
}

/** The target a health URL names, or undefined for a URL parako could not have validated. */
export function acceptTargetOf(url: string): AcceptTarget | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  // URL keeps IPv6 hosts in brackets; net and http want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return {protocol: parsed.protocol, host, port, path: `${parsed.pathname}${parsed.search}`};
}

export function describeTarget(target: AcceptTarget): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

export interface AcceptingOptions {
  /** Gives up after this long (health.timeoutSeconds when settleService calls it). */
  timeoutMs: number;
  /** Pause between attempts; each attempt may take up to attemptMs on its own. */
  pollMs?: number;
  attemptMs?: number;
  /** The hook's signal: its timeout or a SIGTERM ends the wait. */
  signal: AbortSignal;
}

/** The wait's result: how long it took, in attempts and ms. */
export interface Accepted {
  attempts: number;
  waitedMs: number;
}

/** Why a service did not accept connections in time; `last` is the last attempt's error. */
export class NotAccepting extends Error {
  constructor(
    readonly target: AcceptTarget,
    readonly waitedMs: number,
    readonly last: string,
  ) {
    super(`it accepts no connections on ${describeTarget(target)} after ${Math.round(waitedMs / 100) / 10} s (last attempt: ${last})`);
    this.name = 'NotAccepting';
  }
}

/**
 * Tries `target` until one attempt gets an answer; throws NotAccepting after timeoutMs, or the
 * signal's reason when the hook is stopped.
 */
export async function waitUntilAccepting(target: AcceptTarget, options: AcceptingOptions): Promise<Accepted> {
  const started = Date.now();
  const pollMs = options.pollMs ?? 100;
  const attemptMs = options.attemptMs ?? 2000;
  let attempts = 0;
  for (;;) {
    attempts++;
    const left = options.timeoutMs - (Date.now() - started);
    const error = await attempt(target, Math.max(1, Math.min(attemptMs, left)), options.signal);
    if (error === undefined) return {attempts, waitedMs: Date.now() - started};
    if (options.signal.aborted) throw options.signal.reason ?? new Error('aborted');
    if (Date.now() - started + pollMs >= options.timeoutMs) throw new NotAccepting(target, Date.now() - started, error);
    await sleep(pollMs, undefined, {signal: options.signal}).catch(() => {
      throw options.signal.reason ?? new Error('aborted');
    });
  }
}

/** One attempt: undefined when answered, else what went wrong (connection refused, reset, timed out…). */
async function attempt(target: AcceptTarget, timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
  const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  try {
    if (target.protocol === 'http:') await httpAnswer(target, attemptSignal);
    else await tlsHandshake(target, attemptSignal);
    return undefined;
  } catch (error) {
    if (attemptSignal.aborted && !signal.aborted) return `no answer within ${timeoutMs} ms`;
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ECONNREFUSED' ? 'connection refused' : code === 'ECONNRESET' ? 'connection reset' : (error as Error).message;
  }
}

/** Any HTTP response to a GET of the path, read to the end; no keep-alive, no redirects followed. */
async function httpAnswer(target: AcceptTarget, signal: AbortSignal): Promise<void> {
  const {request} = await import('node:http');
  await new Promise<void>((resolve, reject) => {
    const req = request({host: target.host, port: target.port, path: target.path, method: 'GET', agent: false, signal, headers: {connection: 'close'}}, (res) => {
      res.resume();
      res.once('end', resolve);
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

async function tlsHandshake(target: AcceptTarget, signal: AbortSignal): Promise<void> {
  const {connect} = await import('node:tls');
  await new Promise<void>((resolve, reject) => {
    // Not verified here on purpose: nothing is sent, and the health gate checks the certificate next.
    const socket = connect({host: target.host, port: target.port, servername: /^[\d.:]+$/.test(target.host) ? undefined : target.host, rejectUnauthorized: false});
    const stop = (): void => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', stop, {once: true});
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', stop);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      signal.removeEventListener('abort', stop);
      reject(error);
    });
  });
}
