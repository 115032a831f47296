import {createHash} from 'node:crypto';
import {closeSync, constants, createReadStream, openSync, writeSync} from 'node:fs';
import {rm, stat, writeFile} from 'node:fs/promises';
import {dirname} from 'node:path';
import type {Readable} from 'node:stream';
import {setTimeout as sleep} from 'node:timers/promises';
import type {Dispatcher} from 'undici';

import {DiskFullError, DownloadError, InterruptedError} from './errors.js';
import {describeNetworkError} from './feed.js';
import {isRedirectLoop, request, tooManyRedirects} from './http.js';
import type {Logger} from './logger.js';
import {ensurePrivateDir} from './safe-dir.js';
import {pauseForTests} from './test-pause.js';

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
  /**
   * A fresh digest for each attempt, fed every byte of the file in order (a resumed file's
   * prefix too); its SHA-256 is the download's. The verify phase hands one in, so the signature
   * is checked against the bytes as they arrived, without reading the file again.
   */
  newDigest?: () => ArtifactDigest;
}

/** Hashes the file's bytes as they stream by. */
export interface ArtifactDigest {
  update(chunk: Buffer): void;
  sha256Hex(): string;
}

export interface DownloadedFile<D extends ArtifactDigest = ArtifactDigest> {
  file: string;
  sha256: string;
  size: number;
  /** The digest that saw every byte of the file, from `newDigest`. */
  digest: D;
}

class RetryableError extends Error {}

/**
 * Streams an artifact to disk, feeding its digest on the way. Resumes after a dropped connection,
 * retries 5xx and network errors with backoff, and never accepts more bytes than the index
 * says (the endless-data attack).
 */
export async function downloadArtifact<D extends ArtifactDigest>(req: DownloadRequest & {newDigest: () => D}): Promise<DownloadedFile<D>>;
export async function downloadArtifact(req: DownloadRequest): Promise<DownloadedFile>;
export async function downloadArtifact(req: DownloadRequest): Promise<DownloadedFile> {
  ensurePrivateDir(dirname(req.file));
  const attempts = req.attempts ?? 5;
  const baseDelay = Number(process.env.PARAKO_RETRY_BASE_MS ?? 500);
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (req.signal?.aborted) throw interrupted();
    try {
      const digest = await fetchOnce(req);
      return {file: req.file, sha256: digest.sha256Hex(), size: req.size, digest};
    } catch (error) {
      if (req.signal?.aborted) throw interrupted();
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

/** One request; returns the digest of the whole file, fed as the bytes stream in. */
async function fetchOnce(req: DownloadRequest): Promise<ArtifactDigest> {
  const newDigest = req.newDigest ?? sha256Digest;
  const have = await partialSize(req.file, req.size);
  if (have === req.size) return digestFile(req.file, newDigest());
  // Hashed before the request: once the response arrives its body must be consumed at once,
  // or chunks (and the error of a dropped connection) would pass by unseen.
  const resumedHash = have > 0 ? await digestFile(req.file, newDigest()) : undefined;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(req.url, {
      dispatcher: req.client,
      signal: req.signal,
      headers: have > 0 ? {range: `bytes=${have}-`} : {},
    });
  } catch (error) {
    if (isRedirectLoop(error)) throw new DownloadError(`download of ${req.url} failed: ${describeNetworkError(error)}`, {next: REDIRECT_NEXT});
    throw new RetryableError(describeNetworkError(error));
  }
  const offset = await checkResponse(req, response, have);
  const limit = req.size;
  const hash = offset > 0 && resumedHash !== undefined ? resumedHash : newDigest();
  let fd: number | undefined;
  let written = offset;
  try {
    await persistBody(response.body, async (chunk) => {
      if (written + chunk.length > limit) {
        throw new DownloadError(`${req.url} sent more than the ${limit} bytes the index promises; cut off`, {
          next: 'the feed and its artifact disagree: tell the publisher; nothing was installed',
        });
      }
      // Synchronous writes of each chunk as it arrives: into the page cache, a copy; a thread-pool
      // round trip and a promise per 64 KiB chunk cost more than the write itself.
      fd ??= openSync(req.file, (offset === 0 ? constants.O_TRUNC : constants.O_APPEND) | WRITE_NEW_OR_OWN, 0o600);
      // Every byte of the chunk, or the error that stops it (ENOSPC): the digest stands for
      // the file's bytes, and the signature is checked against it.
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
      hash.update(chunk);
      const before = written;
      written += chunk.length;
      req.onProgress?.(written, limit);
      if (before < limit / 2 && written >= limit / 2) await pauseForTests('mid-download');
    });
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    if (error instanceof DownloadError) {
      response.body.destroy();
      await rm(req.file, {force: true});
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      await rm(req.file, {force: true});
      throw new DiskFullError(`no space left on ${dirname(req.file)} while downloading ${req.url}`, {
        next: 'free space (parako prune removes old releases), then run parako update again; nothing was installed',
      });
    }
    throw new RetryableError(describeNetworkError(error));
  }
  if (fd !== undefined) closeSync(fd);
  if (written < limit) throw new RetryableError(`connection closed after ${written} of ${limit} bytes`);
  return hash;
}

/**
 * Where this response's bytes start in the file (0 when the server ignored the Range), or a
 * retryable / final error. Answers that are not for us are drained, not left on the socket.
 */
async function checkResponse(req: DownloadRequest, response: Dispatcher.ResponseData, have: number): Promise<number> {
  const {statusCode, headers} = response;
  let offset = have;
  if (statusCode === 200) {
    offset = 0;
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
    const redirected = tooManyRedirects(req.url, statusCode);
    if (redirected !== undefined) throw new DownloadError(`download failed: ${redirected}`, {next: REDIRECT_NEXT});
    const message = `server answered HTTP ${statusCode}`;
    if (statusCode >= 500 || statusCode === 429 || statusCode === 408) throw new RetryableError(message);
    throw new DownloadError(`download of ${req.url} failed: ${message}`, {
      next: 'the feed lists an artifact its server does not serve: tell the publisher; nothing was installed',
    });
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && offset + declared > req.size) {
    // Not one byte of it is read; the error its destruction emits is ours and expected.
    response.body.on('error', () => undefined);
    response.body.destroy();
    throw new DownloadError(`${req.url} is ${offset + declared} bytes, more than the ${req.size} the index promises; refusing it`, {
      next: 'the feed and its artifact disagree: tell the publisher; nothing was installed',
    });
  }
  return offset;
}

/** Writes a file of ours: created 0600 if missing, never through a symlink planted under its name. */
const WRITE_NEW_OR_OWN = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

const HIGH_WATER = 8 * 1024 * 1024;

/**
 * Hands every chunk of a body to `write`, in order, and settles once all of them are written,
 * also when the connection drops. A stream consumed with for-await loses the chunks still
 * buffered when it errors; here each chunk is taken off the socket as it arrives (pausing
 * past HIGH_WATER bytes), so what was received is on disk and a retry resumes after it.
 */
async function persistBody(body: Readable, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  const queue: Buffer[] = [];
  let queued = 0;
  let pumping: Promise<void> | undefined;
  const pump = async (): Promise<void> => {
    for (let chunk = queue.shift(); chunk !== undefined; chunk = queue.shift()) {
      queued -= chunk.length;
      await write(chunk);
      if (body.isPaused() && queued < HIGH_WATER / 2) body.resume();
    }
  };
  const drain = async (): Promise<void> => {
    while (pumping !== undefined) {
      const current = pumping;
      await current;
      if (pumping === current) pumping = undefined;
    }
  };
  return new Promise<void>((resolve, reject) => {
    let failure: unknown;
    body.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued > HIGH_WATER) body.pause();
      pumping ??= pump().catch((error: unknown) => {
        failure ??= error;
        queue.length = 0;
        body.destroy(error as Error);
      }).finally(() => {
        pumping = undefined;
      });
    });
    body.once('end', () => void drain().then(() => (failure === undefined ? resolve() : reject(failure)), reject));
    body.once('error', (error) => void drain().then(() => reject(failure ?? error), reject));
  });
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

function sha256Digest(): ArtifactDigest {
  const hash = createHash('sha256');
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    sha256Hex: () => hash.digest('hex'),
  };
}

async function digestFile<D extends ArtifactDigest>(file: string, digest: D): Promise<D> {
  for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024})) digest.update(chunk as Buffer);
  return digest;
}

export async function hashFile(file: string): Promise<string> {
  return (await digestFile(file, sha256Digest())).sha256Hex();
}

const REDIRECT_NEXT = 'the feed server (or something in front of it) is misconfigured: tell the publisher; nothing was installed';

function interrupted(): InterruptedError {
  return new InterruptedError('download interrupted', {next: 'run parako update again when ready; nothing was installed'});
}

/** Fetches a small file (a Sigstore bundle) whole, refusing anything over `maxBytes`. */
export async function downloadSmallFile(url: string, file: string, maxBytes: number, client: Dispatcher, signal?: AbortSignal): Promise<void> {
  ensurePrivateDir(dirname(file));
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {dispatcher: client, signal});
  } catch (error) {
    // A signal is not a network problem: say what happened, not "check the network".
    if (signal?.aborted) throw interrupted();
    throw new DownloadError(`cannot fetch ${url}: ${describeNetworkError(error)}`, {
      next: 'check the network and the feed server, then run parako update again; nothing was installed',
    });
  }
  const redirected = tooManyRedirects(url, response.statusCode);
  if (redirected !== undefined) {
    await response.body.dump().catch(() => undefined);
    throw new DownloadError(`fetching failed: ${redirected}`, {next: REDIRECT_NEXT});
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
    if (signal?.aborted) throw interrupted();
    throw new DownloadError(`fetching ${url} failed: ${describeNetworkError(error)}`);
  }
  await writeFile(file, Buffer.concat(chunks), {mode: 0o600, flag: constants.O_TRUNC | WRITE_NEW_OR_OWN});
}
