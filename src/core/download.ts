import {createHash, type Hash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {rm, stat, writeFile} from 'node:fs/promises';
import {setTimeout as sleep} from 'node:timers/promises';
import {pipeline} from 'node:stream/promises';
import {type Dispatcher, request} from 'undici';

import {DownloadError, InterruptedError} from './errors.js';
import {describeNetworkError} from './feed.js';
import type {Logger} from './logger.js';

export interface DownloadRequest {
  url: string;
  /** Where the bytes go; a partial file already there is resumed with a Range request. */
  file: string;
  /** The size the index promises: a server sending more is cut off at size + 1 bytes. */
  size: number;
  client: Dispatcher;
  log: Logger;
  signal?: AbortSignal;
  attempts?: number;
  onProgress?: (received: number, total: number) => void;
}

export interface DownloadedFile {
  file: string;
  sha256: string;
  size: number;
}

class RetryableError extends Error {}

/**
 * Streams an artifact to disk, hashing it on the way. Resumes after a dropped connection,
 * retries 5xx and network errors with backoff, and never accepts more bytes than the index
 * says (the endless-data attack).
 */
export async function downloadArtifact(req: DownloadRequest): Promise<DownloadedFile> {
  const attempts = req.attempts ?? 5;
  const baseDelay = Number(process.env.PARAKO_RETRY_BASE_MS ?? 500);
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (req.signal?.aborted) throw new InterruptedError('download interrupted', {next: 'run parako update again when ready; nothing was installed'});
    try {
      const sha256 = await fetchOnce(req);
      return {file: req.file, sha256, size: req.size};
    } catch (error) {
      if (req.signal?.aborted) throw new InterruptedError('download interrupted', {next: 'run parako update again when ready; nothing was installed'});
      if (!(error instanceof RetryableError)) throw error;
      lastError = error;
      if (attempt < attempts) {
        const delay = baseDelay * 2 ** (attempt - 1);
        req.log.warn({url: req.url, attempt, delayMs: delay, err: error.message}, 'download failed, retrying');
        await sleep(delay, undefined, {signal: req.signal}).catch(() => undefined);
      }
    }
  }
  throw new DownloadError(`download of ${req.url} failed after ${attempts} attempts: ${(lastError as Error).message}`, {
    next: 'check the network and the feed server, then run parako update again; nothing was installed',
  });
}

/** One request; returns the SHA-256 of the whole file, hashed as the bytes stream in. */
async function fetchOnce(req: DownloadRequest): Promise<string> {
  const have = await partialSize(req.file, req.size);
  if (have === req.size) return hashFile(req.file);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(req.url, {
      dispatcher: req.client,
      signal: req.signal,
      headers: have > 0 ? {range: `bytes=${have}-`} : {},
    });
  } catch (error) {
    throw new RetryableError(describeNetworkError(error));
  }
  const {statusCode, headers} = response;
  let offset = have;
  if (statusCode === 200) {
    offset = 0; // server ignored the Range: start over
  } else if (statusCode === 206) {
    const start = /^bytes (\d+)-/.exec(String(headers['content-range'] ?? ''))?.[1];
    if (Number(start) !== have) {
      await response.body.dump();
      await rm(req.file, {force: true});
      throw new RetryableError(`server resumed at byte ${start ?? '?'} instead of ${have}`);
    }
  } else if (statusCode === 416 && have > 0) {
    await response.body.dump();
    await rm(req.file, {force: true});
    throw new RetryableError('server refused to resume the partial download');
  } else {
    await response.body.dump().catch(() => undefined);
    const message = `server answered HTTP ${statusCode}`;
    if (statusCode >= 500 || statusCode === 429 || statusCode === 408) throw new RetryableError(message);
    throw new DownloadError(`download of ${req.url} failed: ${message}`, {
      next: 'the feed lists an artifact its server does not serve: tell the publisher; nothing was installed',
    });
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && offset + declared > req.size) {
    await response.body.dump({limit: 0}).catch(() => undefined);
    throw new DownloadError(`${req.url} is ${offset + declared} bytes, more than the ${req.size} the index promises; refusing it`, {
      next: 'the feed and its artifact disagree: tell the publisher; nothing was installed',
    });
  }
  let received = offset;
  const limit = req.size;
  // A resumed file's first bytes were hashed by no one in this attempt: read them once.
  const hash = offset > 0 ? await hashPrefix(req.file) : createHash('sha256');
  try {
    await pipeline(
      response.body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length;
          if (received > limit) {
            throw new DownloadError(`${req.url} sent more than the ${limit} bytes the index promises; cut off`, {
              next: 'the feed and its artifact disagree: tell the publisher; nothing was installed',
            });
          }
          hash.update(chunk);
          req.onProgress?.(received, limit);
          yield chunk;
        }
      },
      createWriteStream(req.file, {flags: offset === 0 ? 'w' : 'a', mode: 0o600}),
    );
  } catch (error) {
    if (error instanceof DownloadError) {
      await rm(req.file, {force: true});
      throw error;
    }
    throw new RetryableError(describeNetworkError(error));
  }
  if (received < limit) throw new RetryableError(`connection closed after ${received} of ${limit} bytes`);
  return hash.digest('hex');
}

/** Bytes of a previous attempt worth resuming from; a file larger than promised is discarded. */
async function partialSize(file: string, size: number): Promise<number> {
  try {
    const info = await stat(file);
    if (info.size <= size) return info.size;
    await rm(file, {force: true});
    return 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function hashPrefix(file: string): Promise<Hash> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash;
}

export async function hashFile(file: string): Promise<string> {
  return (await hashPrefix(file)).digest('hex');
}

/** Fetches a small file (a Sigstore bundle) whole, refusing anything over `maxBytes`. */
export async function downloadSmallFile(url: string, file: string, maxBytes: number, client: Dispatcher, signal?: AbortSignal): Promise<void> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {dispatcher: client, signal});
  } catch (error) {
    throw new DownloadError(`cannot fetch ${url}: ${describeNetworkError(error)}`, {
      next: 'check the network and the feed server, then run parako update again; nothing was installed',
    });
  }
  if (response.statusCode !== 200) {
    await response.body.dump().catch(() => undefined);
    throw new DownloadError(`fetching ${url} failed: server answered HTTP ${response.statusCode}`, {
      next: response.statusCode === 404 ? 'the release has no signature bundle where the feed says: tell the publisher; nothing was installed' : 'try again later; nothing was installed',
    });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) throw new DownloadError(`${url} is larger than ${maxBytes} bytes; refusing it`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw new DownloadError(`fetching ${url} failed: ${describeNetworkError(error)}`);
  }
  await writeFile(file, Buffer.concat(chunks), {mode: 0o600});
}
