/**
 * What the operator sees and what is kept: the proxy from the environment is used, logs go
 * to stderr at --log-level and always at info into .parako/parako.log (never in a dry run).
 */
import {createServer, request as httpRequest, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {SignedWorld} from '../fixtures/signed-world.js';
import {exists, expectExit, parako, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();
let world: SignedWorld;

/** A plain forward HTTP proxy on 127.0.0.1 that remembers what it forwarded. */
async function startProxy(): Promise<{url: string; seen: string[]; server: Server}> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const upstream = httpRequest(req.url ?? '', {method: req.method, headers: req.headers}, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server};
}

async function freshWorld(): Promise<void> {
  world = await worlds.make();
  await world.writeConfig();
  await world.publish({version: '1.0.0'});
}

describe('network settings from the environment', () => {
  it('goes through HTTP_PROXY, and around it for hosts in NO_PROXY', async () => {
    await freshWorld();
    const proxy = await startProxy();
    try {
      expectExit(await parako(world, ['update', '--dry-run'], {env: {HTTP_PROXY: proxy.url}}), 0);
      expect(proxy.seen.some((url) => url.endsWith('/index.json'))).toBe(true);
      expect(proxy.seen.some((url) => url.endsWith('.tar.gz'))).toBe(true);
      proxy.seen.length = 0;
      expectExit(await parako(world, ['update', '--dry-run'], {env: {HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1'}}), 0);
      expect(proxy.seen).toEqual([]);
    } finally {
      proxy.server.close();
    }
  });
});

describe('logs', () => {
  it('are JSON lines on stderr at --log-level and always at info in .parako/parako.log', async () => {
    await freshWorld();
    const quiet = await parako(world, ['update']);
    expectExit(quiet, 0);
    expect(quiet.stderr).toBe(''); // default level warn: nothing to say on a good run
    const log = (await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {level: number; msg: string});
    expect(log.some((l) => l.msg === 'phase swap' && l.level === 30)).toBe(true);
    const verbose = await parako(world, ['status', '--log-level', 'debug']);
    expectExit(verbose, 0);
    expect(quiet.stdout).not.toContain('{"level"');
  });

  it('a dry run writes no log file', async () => {
    await freshWorld();
    expectExit(await parako(world, ['update', '--dry-run', '--log-level', 'info']), 0);
    expect(await exists(join(world.dir, '.parako'))).toBe(false);
  });

  it('piped output has no progress bar or terminal escapes', async () => {
    await freshWorld();
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(result.stdout).not.toMatch(/\r|\x1b\[/);
  });
});
