/**
 * Day-2 questions through the real CLI: what happened on this host (`parako history`, filtered
 * by version and outcome), which versions are marked bad and why (`parako releases`), and how a
 * mark goes away: the version later runs healthy, or an operator clears it.
 */
import {readFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {makeSignedWorld, type SignedWorld} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import {currentTarget, expectExit, jsonOf, parako} from './helpers.js';

let sigstore: TestSigstore;
let world: SignedWorld;
let server: Server;
/** The versions the health endpoint answers 503 for. */
const broken = new Set<string>();

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
  world = await makeSignedWorld({sigstore});
  server = createServer((_request, response) => {
    void readFile(join(world.dir, 'current', 'VERSION'), 'utf8').then((version) => response.writeHead(broken.has(version.trim()) ? 503 : 200).end(version));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await world.writeConfig({health: {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, timeoutSeconds: 1}});
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update']), 0);
  await world.publish({version: '1.1.0'});
  expectExit(await parako(world, ['update']), 0);
  broken.add('1.2.0');
  await world.publish({version: '1.2.0'});
  expectExit(await parako(world, ['update']), 7);
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await world?.cleanup();
  await sigstore?.close();
});

describe('parako history', () => {
  it('lists every run oldest first, with its outcome, exit code and message', async () => {
    const result = await parako(world, ['history']);
    expectExit(result, 0);
    const heads = result.stdout.split('\n').filter((line) => /^\d{4}-/.test(line));
    expect(heads.map((line) => line.replace(/^\S+\s+/, '').replace(/, [\d.]+ s\)$/, ')'))).toEqual([
      'update -> v1.0.0: installed (exit 0)',
      'update v1.0.0 -> v1.1.0: updated (exit 0)',
      'update v1.1.0 -> v1.2.0: auto-rolled-back (exit 7)',
    ]);
    expect(result.stdout).toContain('    v1.2.0 was unhealthy');
    expect(result.stdout).toContain('3 line(s)');
  });

  it('filters by version and by outcome, and keeps the newest N', async () => {
    const byVersion = jsonOf(await parako(world, ['history', '--version', 'v1.1.0', '--json']));
    expect((byVersion.entries as Array<{from: string | null; to: string}>).map((entry) => [entry.from, entry.to])).toEqual([
      ['1.0.0', '1.1.0'],
      ['1.1.0', '1.2.0'],
    ]);
    const byOutcome = jsonOf(await parako(world, ['history', '--outcome', 'auto-rolled-back', '--json']));
    expect(byOutcome).toMatchObject({matched: 1, entries: [{to: '1.2.0', code: 7}]});
    const last = await parako(world, ['history', '--last', '1']);
    expect(last.stdout).toContain('the newest 1 of 3 line(s); --last 0 shows all');
    expectExit(await parako(world, ['history', '--outcome', 'exploded']), 2);
  });
});

describe('bad marks', () => {
  it('releases shows the mark and why, update skips the version, and --clear-bad lifts it with a history line', async () => {
    const rows = jsonOf(await parako(world, ['releases', '--json'])).releases as Array<{version: string; bad: boolean; badWhy: string | null}>;
    expect(rows.find((row) => row.version === '1.2.0')).toMatchObject({bad: true, badWhy: expect.stringMatching(/^update v1\.1\.0 -> v1\.2\.0 rolled back automatically on \d{4}-/)});
    expect((await parako(world, ['releases'])).stdout).toMatch(/v1\.2\.0\s+retained, newer, failed health \(update v1\.1\.0 -> v1\.2\.0 rolled back automatically on .*; parako releases --clear-bad 1\.2\.0 lifts the mark\)/);

    const skipped = await parako(world, ['update']);
    expectExit(skipped, 0);
    expect(skipped.stdout).toContain('skipping v1.2.0: it failed its health check before');

    const notBad = await parako(world, ['releases', '--clear-bad', '1.1.0']);
    expectExit(notBad, 5);
    expect(notBad.stderr).toContain('v1.1.0 is not marked bad on this host; nothing to clear');

    const cleared = await parako(world, ['releases', '--clear-bad', 'v1.2.0']);
    expectExit(cleared, 0);
    expect(cleared.stdout).toContain('cleared the bad mark of v1.2.0 (update v1.1.0 -> v1.2.0 rolled back automatically on ');
    expect(cleared.stdout).toMatch(/v1\.2\.0\s+retained, newer( {2}\(.*\))?\n/);
    const history = jsonOf(await parako(world, ['history', '--outcome', 'cleared', '--json']));
    expect(history).toMatchObject({matched: 1, entries: [{operation: 'clear-bad', to: '1.2.0', code: 0}]});

    // Taken again by update to latest: still broken, so marked again.
    expectExit(await parako(world, ['update']), 7);
    expect((jsonOf(await parako(world, ['releases', '--json'])).releases as Array<{version: string; bad: boolean}>).find((row) => row.version === '1.2.0')?.bad).toBe(true);
  });

  it('a marked version that later runs healthy loses its mark', async () => {
    broken.delete('1.2.0');
    expectExit(await parako(world, ['update', '--version', '1.2.0']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.2.0');
    const rows = jsonOf(await parako(world, ['releases', '--json'])).releases as Array<{version: string; bad: boolean; badWhy: string | null}>;
    expect(rows.find((row) => row.version === '1.2.0')).toMatchObject({bad: false, badWhy: null});
  });
});

describe('prune keeps what works', () => {
  let w: SignedWorld;
  const port = () => (server.address() as AddressInfo).port;
  afterAll(async () => w?.cleanup());

  it('an automatic rollback prunes too, the failed release first; parako prune removes a failed release before an older good one', async () => {
    w = await makeSignedWorld({sigstore});
    // Its health endpoint is this file's server, which answers for `world`'s current; this world gets its own.
    const own = createServer((_request, response) => {
      void readFile(join(w.dir, 'current', 'VERSION'), 'utf8').then((version) => response.writeHead(version.trim() === '1.9.0' ? 503 : 200).end(version));
    });
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    try {
      await w.writeConfig({keepReleases: 5, health: {url: `http://127.0.0.1:${(own.address() as AddressInfo).port}/health`, timeoutSeconds: 1}});
      for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
        await w.publish({version});
        expectExit(await parako(w, ['update']), 0);
      }
      await w.publish({version: '1.9.0'});
      expectExit(await parako(w, ['update']), 7);
      const retained = async () => ((jsonOf(await parako(w, ['status', '--json'])).status as {retained: Array<{version: string}>}).retained).map((r) => r.version);
      expect(await retained()).toEqual(['1.9.0', '1.2.0', '1.1.0', '1.0.0']);

      const pruned = jsonOf(await parako(w, ['prune', '--keep', '3', '--json']));
      expect(pruned).toMatchObject({outcome: 'pruned', pruned: ['1.9.0']});
      expect(await retained()).toEqual(['1.2.0', '1.1.0', '1.0.0']);

      await w.writeConfig({keepReleases: 3, health: {url: `http://127.0.0.1:${(own.address() as AddressInfo).port}/health`, timeoutSeconds: 1}});
      const again = await parako(w, ['update', '--version', '1.9.0']);
      expectExit(again, 7);
      expect(again.stdout).toContain('pruned v1.9.0 (keepReleases 3)');
      expect(await retained()).toEqual(['1.2.0', '1.1.0', '1.0.0']);
      expect(await currentTarget(w)).toBe('releases/v1.2.0');
    } finally {
      await new Promise((resolve) => own.close(resolve));
    }
    expect(port()).toBeGreaterThan(0);
  });
});
