/**
 * Two servers the feed fixture cannot play, for hostile-servers.test.ts: one that redirects
 * to a new URL every time (so no URL repeats and only a redirect limit stops a client), and
 * one that serves an artifact's real bytes and then keeps sending more, chunked, without a
 * Content-Length (so only the size the index promises can stop a client).
 */
import {createReadStream} from 'node:fs';
import {createServer, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';

export interface HostileServer {
  url: string;
  /** Paths of every request, with their query, in arrival order. */
  requests: string[];
  /** Bytes sent past the real file by endless bodies, so far (each stops when its client hangs up). */
  endlessExtraBytes(): number;
  /** A URL answering 302 to `…?hop=<n+1>`, forever. */
  redirectChainUrl(name: string): string;
  /** A URL serving `file`, then garbage until the client hangs up; chunked, no Content-Length. */
  endlessBodyUrl(file: string): string;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x41);

export async function startHostileServer(): Promise<HostileServer> {
  const requests: string[] = [];
  const endless = new Map<string, string>(); // URL path -> file
  let extraBytes = 0;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${url.pathname}${url.search}`);
    if (url.pathname.startsWith('/redirect/')) {
      const hop = Number(url.searchParams.get('hop') ?? 0) + 1;
      res.writeHead(302, {location: `${url.pathname}?hop=${hop}`, 'content-length': 0});
      res.end();
      return;
    }
    const file = endless.get(url.pathname);
    if (file === undefined) {
      res.writeHead(404, {'content-length': 0});
      res.end();
      return;
    }
    // No Content-Length: Node sends the body chunked, so the client cannot know where it ends.
    res.writeHead(200, {'content-type': 'application/gzip'});
    void sendEndless(res, file, (n) => (extraBytes += n));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    endlessExtraBytes: () => extraBytes,
    redirectChainUrl: (name) => `${url}/redirect/${encodeURIComponent(name)}`,
    endlessBodyUrl(file) {
      const path = `/endless/${endless.size}/artifact.tar.gz`;
      endless.set(path, file);
      return `${url}${path}`;
    },
    async close() {
      server.closeAllConnections(); // an endless body never ends on its own
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}

/** The real bytes, then CHUNK after CHUNK with backpressure until the socket goes away. */
async function sendEndless(res: ServerResponse, file: string, countExtra: (bytes: number) => void): Promise<void> {
  try {
    for await (const chunk of createReadStream(file)) {
      if (!(await write(res, chunk as Buffer))) return;
    }
    while (await write(res, CHUNK)) countExtra(CHUNK.length);
  } catch {
    // The client hung up mid-write: that is how every endless body is meant to end.
  }
}

/** Resolves true once the chunk is handed to the socket, false when the client is gone. */
function write(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolveWrite) => {
    // A write pending when the socket is destroyed may never call back; 'close' always comes.
    const gone = (): void => resolveWrite(false);
    res.once('close', gone);
    res.write(chunk, (error) => {
      res.off('close', gone);
      resolveWrite(error === undefined || error === null);
    });
  });
}
