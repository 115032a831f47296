/**
 * The downtime benchmark's load generator, run as its own process (measure.ts starts it) so
 * that parako, the supervisor and the benchmark's own work never delay a request it sends.
 *
 * Open loop at a fixed rate: request i is sent at start + i / rate whether or not earlier ones
 * have been answered, so a stalled server shows up as latency and failures instead of as fewer
 * requests. Requests alternate between a kept-alive connection pool (as a reverse proxy's
 * upstream pool) and a new connection each (as a browser or a health checker). Bounded in
 * time and in count; every request has a timeout. Only http://127.0.0.1 is ever asked.
 *
 * Protocol (IPC): the parent forks this file with its options as JSON in argv[2]; the child
 * sends {type: 'started'} and, when told {type: 'stop'} or a bound is reached, waits for the
 * requests in flight and sends {type: 'report', report}, then exits.
 */
import {Agent, request} from 'node:http';
import {resolve} from 'node:path';
import {performance} from 'node:perf_hooks';
import {fileURLToPath} from 'node:url';

export interface LoadOptions {
  url: string;
  ratePerSecond: number;
  /** Stops sending after this long even without a stop message. */
  maxDurationMs: number;
  /** Stops sending after this many requests even without a stop message. */
  maxRequests: number;
  /** A request not answered within this is a `timeout`. */
  timeoutMs: number;
}

export type RequestResult = 'ok' | 'refused' | 'reset' | 'timeout' | '5xx' | 'other';

export interface RequestRecord {
  /** When it was sent, epoch ms with sub-ms precision (performance.timeOrigin + now). */
  startMs: number;
  /** Until the whole answer was read, or until it failed. */
  latencyMs: number;
  result: RequestResult;
  connection: 'keep-alive' | 'new';
  /** What went wrong, for anything but ok: the error code or the HTTP status. */
  detail?: string;
  /** The `"version"` of a JSON answer, to see which release answered. */
  version?: string;
}

export interface LoadReport {
  requests: RequestRecord[];
  /** Why sending stopped. */
  stoppedBy: 'message' | 'duration' | 'count';
}

export type LoadMessage = {type: 'started'} | {type: 'report'; report: LoadReport};

/** The URL, or an error when it is not plain http to 127.0.0.1: this tool loads only the local host. */
export function loopbackTarget(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`load: not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' || parsed.hostname !== '127.0.0.1') {
    throw new Error(`load: refusing ${url}: the downtime benchmark only sends requests to http://127.0.0.1`);
  }
  return parsed;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Sends the load until stopped; resolves with every request's record once the last one is settled. */
export async function runLoad(opts: LoadOptions, stopSignal: AbortSignal): Promise<LoadReport> {
  const target = loopbackTarget(opts.url);
  if (!(opts.ratePerSecond > 0 && opts.ratePerSecond <= 2000)) throw new Error(`load: rate must be in (0, 2000] requests/s, got ${opts.ratePerSecond}`);
  // A small pool, as a proxy keeps to one upstream; the sockets are reused across the restart.
  const keepAlive = new Agent({keepAlive: true, maxSockets: 8});
  const requests: RequestRecord[] = [];
  const pending = new Set<Promise<void>>();
  const intervalMs = 1000 / opts.ratePerSecond;
  const start = now();
  let stoppedBy: LoadReport['stoppedBy'] = 'message';
  for (let i = 0; ; i++) {
    if (stopSignal.aborted) break;
    if (i >= opts.maxRequests) {
      stoppedBy = 'count';
      break;
    }
    if (now() - start >= opts.maxDurationMs) {
      stoppedBy = 'duration';
      break;
    }
    const due = start + i * intervalMs;
    const wait = due - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const connection = i % 2 === 0 ? 'keep-alive' : 'new';
    const sent = send(target, connection === 'keep-alive' ? keepAlive : false, opts.timeoutMs).then((record) => {
      requests.push({...record, connection});
      pending.delete(sent);
    });
    pending.add(sent);
  }
  await Promise.all(pending);
  keepAlive.destroy();
  requests.sort((a, b) => a.startMs - b.startMs);
  return {requests, stoppedBy};
}

/** One GET, read to the end; never rejects. */
function send(target: URL, agent: Agent | false, timeoutMs: number): Promise<Omit<RequestRecord, 'connection'>> {
  const startMs = now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: RequestResult, detail?: string, version?: string): void => {
      if (settled) return;
      settled = true;
      resolve({startMs, latencyMs: now() - startMs, result, ...(detail === undefined ? {} : {detail}), ...(version === undefined ? {} : {version})});
    };
    const req = request(target, {agent, timeout: timeoutMs}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // The start of the body is enough for the version of a /health answer; the rest is read and dropped.
        if (body.length < 4096) body += chunk;
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish(classify(error), error.code ?? error.message));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const version = /"version"\s*:\s*"([^"]+)"/.exec(body)?.[1];
        if (status >= 200 && status < 300) finish('ok', undefined, version);
        else finish(status >= 500 ? '5xx' : 'other', `HTTP ${status}`);
      });
    });
    // The socket timeout fires on inactivity; the overall bound below covers a slow trickle too.
    const overall = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT_BENCH'})), timeoutMs);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT_BENCH'})));
    req.on('error', (error: NodeJS.ErrnoException) => finish(classify(error), error.code ?? error.message));
    req.on('close', () => clearTimeout(overall));
    req.end();
  });
}

function classify(error: NodeJS.ErrnoException): RequestResult {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset';
    case 'ETIMEDOUT_BENCH':
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      // "socket hang up" (the server closed a connection that carried our request) is a reset.
      return error.message === 'socket hang up' ? 'reset' : 'other';
  }
}

/** As a forked child: options from argv[2], stop and report over IPC. */
async function main(): Promise<void> {
  if (process.send === undefined) throw new Error('load.ts runs as a child with an IPC channel (measure.ts forks it)');
  const opts = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
  loopbackTarget(opts.url); // refuse before anything is sent
  const stop = new AbortController();
  process.on('message', (message: {type?: string}) => {
    if (message.type === 'stop') stop.abort();
  });
  // Losing the parent means nobody reads the report: stop sending.
  process.on('disconnect', () => stop.abort());
  process.send({type: 'started'} satisfies LoadMessage);
  const report = await runLoad(opts, stop.signal);
  if (process.connected) {
    await new Promise<void>((resolve, reject) => process.send!({type: 'report', report} satisfies LoadMessage, (error: Error | null) => (error ? reject(error) : resolve())));
  }
  process.disconnect?.();
}

// Run as a child only when this file is the entry point (measure.ts imports it for its types and loopbackTarget).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  });
}
