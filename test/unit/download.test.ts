import {createHash, randomBytes} from 'node:crypto';
import {readFile, mkdtemp, rm} from 'node:fs/promises';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import pino from 'pino';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {type ArtifactDigest, downloadArtifact} from '../../src/core/download.js';
import {createHttpClient} from '../../src/core/http.js';

const log = pino({level: 'silent'});
const body = randomBytes(300_000);
const bodySha256 = createHash('sha256').update(body).digest('hex');

/** Keeps every byte it is fed, so a test can see that the digest saw exactly the file. */
class RecordingDigest implements ArtifactDigest {
  readonly chunks: Buffer[] = [];
  update(chunk: Buffer): void {
    this.chunks.push(Buffer.from(chunk));
  }
  sha256Hex(): string {
    return createHash('sha256').update(Buffer.concat(this.chunks)).digest('hex');
  }
}

type Answer = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

describe('downloadArtifact feeds its digest every byte of the file, once and in order', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let answer: Answer;
  let attempts: number;
  let ranges: Array<string | undefined>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parako-download-'));
    attempts = 0;
    ranges = [];
    server = createServer((req, res) => {
      ranges.push(req.headers.range);
      answer(req, res, ++attempts);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.tar.gz`;
    process.env.PARAKO_RETRY_BASE_MS = '1';
  });
  afterEach(async () => {
    delete process.env.PARAKO_RETRY_BASE_MS;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, {recursive: true, force: true});
  });

  /** First attempt: half the body, then the connection drops. */
  const dropHalfway = (res: ServerResponse): void => {
    res.writeHead(200, {'content-length': body.length});
    res.write(body.subarray(0, body.length / 2), () => setTimeout(() => res.socket?.destroy(), 50));
  };

  async function download(): Promise<{digests: RecordingDigest[]; result: Awaited<ReturnType<typeof downloadArtifact<RecordingDigest>>>}> {
    const digests: RecordingDigest[] = [];
    const file = join(dir, 'app.tar.gz');
    const result = await downloadArtifact({
      url, file, size: body.length, client: createHttpClient(), log,
      newDigest: () => {
        const digest = new RecordingDigest();
        digests.push(digest);
        return digest;
      },
    });
    expect(await readFile(file)).toEqual(body);
    return {digests, result};
  }

  it('a resumed download: the kept prefix is read back into the digest, then the rest as it arrives', async () => {
    answer = (req, res, attempt) => {
      if (attempt === 1) return dropHalfway(res);
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]);
      res.writeHead(206, {'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start});
      res.end(body.subarray(start));
    };
    const {digests, result} = await download();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(result.digest).toBe(digests.at(-1));
    expect(Buffer.concat(result.digest.chunks)).toEqual(body);
    expect(result.sha256).toBe(bodySha256);
  });

  it('a server that ignores the Range and sends it all again: a fresh digest, not the prefix twice', async () => {
    answer = (_req, res, attempt) => {
      if (attempt === 1) return dropHalfway(res);
      res.writeHead(200, {'content-length': body.length});
      res.end(body);
    };
    const {result} = await download();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(Buffer.concat(result.digest.chunks)).toEqual(body);
    expect(result.sha256).toBe(bodySha256);
  });

  it('a file already complete from an earlier run is read into the digest without a request', async () => {
    answer = (_req, res) => {
      res.writeHead(200, {'content-length': body.length});
      res.end(body);
    };
    await download();
    const {result} = await download();
    expect(attempts).toBe(1);
    expect(Buffer.concat(result.digest.chunks)).toEqual(body);
  });
});
