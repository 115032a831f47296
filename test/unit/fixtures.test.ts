import {execFile} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {mkdir, mkdtemp, readFile, rename, rm, symlink, utimes, chmod, writeFile, readdir} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

import * as nodeTar from 'tar';
import {request} from 'undici';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {startFeedServer, type FeedServer} from '../fixtures/feed-server.js';
import {buildRelease, type BuiltRelease} from '../fixtures/release.js';
import {tarBytes, type TarEntry, writeTgz} from '../fixtures/tar-writer.js';
import {diffTrees, snapshotTree, UNCHANGED} from '../fixtures/tree.js';
import {makeWorld} from '../fixtures/world.js';

const run = promisify(execFile);

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'parako-fixtures-'));
});
afterEach(async () => {
  await rm(scratch, {recursive: true, force: true});
});

const longPath = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`;
const maliciousEntries: TarEntry[] = [
  {path: 'ok', type: 'dir'},
  {path: 'ok/hello.txt', content: 'hello\n', mode: 0o4755},
  {path: '../x', content: 'escaped\n'},
  {path: '/etc/evil', content: 'absolute\n'},
  {path: 'ok/link', type: 'symlink', linkpath: '/etc/passwd'},
  {path: 'ok/hard', type: 'hardlink', linkpath: '/etc/shadow'},
  {path: 'ok/pipe', type: 'fifo'},
  {path: 'ok/null', type: 'char', devmajor: 1, devminor: 3},
  {path: longPath, content: 'long\n'},
  {path: 'ok/far', type: 'symlink', linkpath: `../${'up/'.repeat(40)}target`},
];

describe('tar-writer', () => {
  it('writes archives GNU tar lists verbatim, malicious entries included', async () => {
    const file = join(scratch, 'evil.tar.gz');
    const {sha256, size} = await writeTgz(file, maliciousEntries);
    const bytes = await readFile(file);
    expect(size).toBe(bytes.length);
    expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    // -P (--absolute-names): list names as stored, without stripping '/' or '..'.
    const {stdout} = await run('tar', ['-tvzf', file, '-P', '--numeric-owner']);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(maliciousEntries.length);
    expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 2025-01-01 00:00 ok\/$/);
    expect(lines[1]).toMatch(/^-rwsr-xr-x 0\/0 +6 .* ok\/hello\.txt$/);
    expect(lines[2]).toMatch(/^-rw-r--r-- .* \.\.\/x$/);
    expect(lines[3]).toMatch(/^-rw-r--r-- .* \/etc\/evil$/);
    expect(lines[4]).toMatch(/^lrwxrwxrwx .* ok\/link -> \/etc\/passwd$/);
    expect(lines[5]).toMatch(/^hrw-r--r-- .* ok\/hard link to \/etc\/shadow$/);
    expect(lines[6]).toMatch(/^prw-r--r-- .* ok\/pipe$/);
    expect(lines[7]).toMatch(/^crw-r--r-- 0\/0 +1,3 .* ok\/null$/);
    expect(lines[8]).toMatch(new RegExp(` ${longPath}$`));
    expect(lines[9]).toMatch(new RegExp(` ok/far -> \\.\\./(up/){40}target$`));
  });

  it('writes archives node-tar parses the same way', async () => {
    const file = join(scratch, 'evil.tar.gz');
    await writeTgz(file, maliciousEntries);
    const seen: Array<{path: string; type: string; linkpath: string; size: number}> = [];
    await nodeTar.t({
      file,
      onReadEntry: (entry) => {
        seen.push({path: entry.path, type: entry.type, linkpath: entry.linkpath ?? '', size: entry.size});
      },
    });
    expect(seen.map((e) => e.path)).toEqual([
      'ok/',
      'ok/hello.txt',
      '../x',
      '/etc/evil',
      'ok/link',
      'ok/hard',
      'ok/pipe',
      'ok/null',
      longPath,
      'ok/far',
    ]);
    expect(seen.map((e) => e.type)).toEqual([
      'Directory',
      'File',
      'File',
      'File',
      'SymbolicLink',
      'Link',
      'FIFO',
      'CharacterDevice',
      'File',
      'SymbolicLink',
    ]);
    expect(seen[9]?.linkpath).toBe(`../${'up/'.repeat(40)}target`);
  });

  it('is deterministic, and can lie about a size', async () => {
    expect(tarBytes(maliciousEntries).equals(tarBytes(maliciousEntries))).toBe(true);
    const file = join(scratch, 'liar.tar.gz');
    await writeTgz(file, [{path: 'big', content: 'tiny', size: 1 << 20}]);
    const listed = await run('tar', ['-tvzf', file]).then(
      () => 'ok',
      (error: {stderr: string}) => error.stderr,
    );
    expect(listed).toMatch(/Unexpected EOF/);
  });
});

describe('release', () => {
  it('builds a tarball with release.json at its root', async () => {
    const built = await buildRelease(scratch, {
      version: '1.2.0',
      migration: {command: 'node migrate.js'},
      files: {'lib/db/migrate.js': 'console.log("migrated")\n'},
    });
    expect(built.file).toBe(join(scratch, 'v1.2.0', 'demo-app-v1.2.0.tar.gz'));
    const {stdout} = await run('tar', ['-tzf', built.file]);
    expect(stdout.trim().split('\n')).toEqual(['release.json', 'VERSION', 'lib/', 'lib/db/', 'lib/db/migrate.js', 'server.js']);

    const out = join(scratch, 'out');
    await mkdir(out);
    await run('tar', ['-xzf', built.file, '-C', out]);
    expect(JSON.parse(await readFile(join(out, 'release.json'), 'utf8'))).toEqual({
      app: 'demo-app',
      version: '1.2.0',
      migration: {command: 'node migrate.js'},
      breaking: [],
      notes: 'Release 1.2.0',
    });
    const server = await run(process.execPath, [join(out, 'server.js')]);
    expect(server.stdout).toBe('demo-app 1.2.0\n');
  });

  it('can lie about the manifest version or leave the manifest out', async () => {
    const lying = await buildRelease(scratch, {version: '2.0.0', manifestVersion: '1.0.0'});
    expect(lying.manifest.version).toBe('1.0.0');
    const bare = await buildRelease(scratch, {version: '3.0.0', omitManifest: true});
    const {stdout} = await run('tar', ['-tzf', bare.file]);
    expect(stdout).not.toMatch(/release\.json/);
  });
});

describe('feed-server', () => {
  let feed: FeedServer;
  let release: BuiltRelease;
  let artifact: Buffer;

  beforeEach(async () => {
    // Random padding does not compress: the artifact is several KB, so cuts at 1000 bytes fall inside it.
    release = await buildRelease(join(scratch, 'feed'), {version: '1.2.0', files: {'pad.txt': randomBytes(4000).toString('hex')}});
    expect(release.size).toBeGreaterThan(4000);
    artifact = await readFile(release.file);
    feed = await startFeedServer({releases: [release], root: join(scratch, 'feed')});
  });
  afterEach(async () => {
    await feed.close();
  });

  const artifactUrl = (): string => new URL('v1.2.0/demo-app-v1.2.0.tar.gz', feed.indexUrl).href;
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const response = await request(url, {headers});
    const body = Buffer.from(await response.body.arrayBuffer());
    return {status: response.statusCode, headers: response.headers, body};
  };

  it('serves index.json with URLs relative to it, and the artifact', async () => {
    const index = await get(feed.indexUrl);
    expect(index.status).toBe(200);
    expect(JSON.parse(index.body.toString())).toEqual({
      schemaVersion: 1,
      app: 'demo-app',
      releases: [
        {
          version: '1.2.0',
          artifact: 'v1.2.0/demo-app-v1.2.0.tar.gz',
          bundle: 'v1.2.0/demo-app-v1.2.0.tar.gz.sigstore.json',
          sha256: release.sha256,
          size: release.size,
        },
      ],
    });
    const full = await get(artifactUrl());
    expect(full.status).toBe(200);
    expect(full.headers['content-length']).toBe(String(release.size));
    expect(full.body.equals(artifact)).toBe(true);

    const bundle = await get(`${artifactUrl()}.sigstore.json`);
    expect(bundle.status).toBe(404);
    expect(bundle.headers['content-length']).toBe(String(bundle.body.length));
  });

  it('honours Range with 206 and Content-Range, and 416 past the end', async () => {
    const partial = await get(artifactUrl(), {range: 'bytes=100-'});
    expect(partial.status).toBe(206);
    expect(partial.headers['content-range']).toBe(`bytes 100-${release.size - 1}/${release.size}`);
    expect(partial.headers['content-length']).toBe(String(release.size - 100));
    expect(partial.body.equals(artifact.subarray(100))).toBe(true);

    const beyond = await get(artifactUrl(), {range: `bytes=${release.size}-`});
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${release.size}`);
    expect(feed.requests.filter((r) => r.range !== undefined).map((r) => r.range)).toEqual(['bytes=100-', `bytes=${release.size}-`]);
  });

  it('drops the connection after N bytes, `times` times', async () => {
    feed.faults.dropAfterBytes = {suffix: '.tar.gz', bytes: 1000, times: 1};
    const response = await request(artifactUrl());
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe(String(release.size));
    const received: Buffer[] = [];
    await expect(
      (async () => {
        for await (const chunk of response.body) received.push(chunk as Buffer);
      })(),
    ).rejects.toThrow();
    expect(Buffer.concat(received).equals(artifact.subarray(0, 1000))).toBe(true);

    const again = await get(artifactUrl());
    expect(again.body.equals(artifact)).toBe(true);
    expect(feed.faults.dropAfterBytes.times).toBe(0);
  });

  it('drops the connection before any body byte', async () => {
    feed.faults.dropAfterBytes = {suffix: '', bytes: 0, times: 1};
    const response = await request(artifactUrl());
    expect(response.statusCode).toBe(200);
    await expect(response.body.arrayBuffer()).rejects.toThrow();
  });

  it('answers 500 `times` times, then 200', async () => {
    feed.faults.status = {suffix: '.tar.gz', code: 500, times: 2};
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(artifactUrl())).status);
    expect(statuses).toEqual([500, 500, 200]);
    expect((await get(feed.indexUrl)).status).toBe(200);
  });

  it('stalls, appends extra bytes, loops redirects and overrides content on request', async () => {
    feed.faults.stallAfterBytes = {suffix: '.tar.gz', bytes: 10};
    const stalled = await request(artifactUrl(), {bodyTimeout: 300});
    await expect(stalled.body.arrayBuffer()).rejects.toThrow(/timeout/i);
    delete feed.faults.stallAfterBytes;

    feed.faults.extraBytes = {suffix: '.tar.gz', bytes: 7};
    const over = await get(artifactUrl());
    expect(over.body.length).toBe(release.size + 7);
    delete feed.faults.extraBytes;

    feed.faults.redirectLoop = {suffix: 'index.json'};
    const loop = await get(feed.indexUrl);
    expect(loop.status).toBe(302);
    expect(loop.headers.location).toBe(new URL(feed.indexUrl).pathname);
    delete feed.faults.redirectLoop;

    feed.faults.contentOverride = {suffix: 'index.json', body: '<html>login</html>'};
    const html = await get(feed.indexUrl);
    expect(html.headers['content-type']).toBe('text/html');
    expect(html.body.toString()).toBe('<html>login</html>');
  });

  it('publishes more releases and serves an overridden index', async () => {
    const next = await buildRelease(join(scratch, 'feed'), {version: '1.3.0'});
    await feed.addRelease({...next, bundleFile: release.file});
    const index = JSON.parse((await get(feed.indexUrl)).body.toString()) as {releases: Array<{version: string}>};
    expect(index.releases.map((r) => r.version)).toEqual(['1.2.0', '1.3.0']);
    expect((await get(new URL('v1.3.0/demo-app-v1.3.0.tar.gz.sigstore.json', feed.indexUrl).href)).status).toBe(200);

    await feed.setIndex('not json');
    expect((await get(feed.indexUrl)).body.toString()).toBe('not json');
    await feed.setIndex(undefined);
    expect(JSON.parse((await get(feed.indexUrl)).body.toString())).toEqual(feed.generatedIndex());
  });
});

describe('tree', () => {
  it('detects a changed mtime, mode, new file and symlink target', async () => {
    const dir = join(scratch, 'tree');
    await mkdir(join(dir, 'releases', 'v1'), {recursive: true});
    await mkdir(join(dir, 'releases', 'v2'), {recursive: true});
    await writeFile(join(dir, 'releases', 'v1', 'a.txt'), 'a');
    await writeFile(join(dir, 'releases', 'v1', 'b.txt'), 'b');
    await symlink('releases/v1', join(dir, 'current'));
    const before = await snapshotTree(dir);
    expect(diffTrees(before, await snapshotTree(dir))).toEqual([]);
    expect(before.get('current')).toMatch(/^type=symlink .* target="releases\/v1"$/);

    await utimes(join(dir, 'releases', 'v1', 'a.txt'), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    await chmod(join(dir, 'releases', 'v1', 'b.txt'), 0o600);
    await writeFile(join(dir, 'releases', 'v2', 'new.txt'), 'new');
    await symlink('releases/v2', join(dir, 'current.tmp'));
    await rename(join(dir, 'current.tmp'), join(dir, 'current'));

    const diff = diffTrees(before, await snapshotTree(dir));
    expect(diff).toContainEqual(expect.stringMatching(/^changed releases\/v1\/a\.txt: mtime \S+ -> 2020-01-01T00:00:00\.000000000Z$/));
    expect(diff).toContainEqual('changed releases/v1/b.txt: mode 0644 -> 0600');
    expect(diff).toContainEqual(expect.stringMatching(/^added releases\/v2\/new\.txt: type=file /));
    expect(diff).toContainEqual(expect.stringMatching(/^changed releases\/v2: mtime /));
    expect(diff).toContainEqual(expect.stringMatching(/^changed current: .*target "releases\/v1" -> "releases\/v2"/));
    expect(diff).toContainEqual(expect.stringMatching(/^changed \.: mtime /)); // the rename touched the install dir
  });

  it('ignores what "Unchanged" allows, and reads no fifo', async () => {
    const dir = join(scratch, 'install');
    await mkdir(join(dir, '.parako'), {recursive: true});
    await mkdir(join(dir, 'runtime'));
    await run('mkfifo', [join(dir, 'runtime', 'app.fifo')]);
    const before = await snapshotTree(dir, UNCHANGED);
    expect(before.get('runtime/app.fifo')).toMatch(/^type=fifo /);

    await writeFile(join(dir, '.parako', 'history.jsonl'), '{}\n');
    await writeFile(join(dir, '.parako', 'parako.log'), '{}\n');
    await writeFile(join(dir, '.parako', 'lock'), '');
    await rm(join(dir, '.parako', 'lock'));
    expect(diffTrees(before, await snapshotTree(dir, UNCHANGED))).toEqual([]);

    await writeFile(join(dir, '.parako', 'state.json'), '{}');
    expect(diffTrees(before, await snapshotTree(dir, UNCHANGED))).toEqual([expect.stringMatching(/^added \.parako\/state\.json: /)]);
  });

  it('gives an empty snapshot for a missing dir', async () => {
    expect((await snapshotTree(join(scratch, 'nope'))).size).toBe(0);
  });
});

describe('world', () => {
  it('publishes releases to its feed and writes a merged config', async () => {
    const signed: string[] = [];
    const world = await makeWorld({
      sign: async (file) => {
        signed.push(file);
        await writeFile(`${file}.sigstore.json`, '{}');
        return `${file}.sigstore.json`;
      },
    });
    try {
      const published = await world.publish({version: '1.0.0'});
      expect(signed).toEqual([published.file]);
      expect(published.bundleFile).toBe(`${published.file}.sigstore.json`);
      const bundle = await request(new URL('v1.0.0/demo-app-v1.0.0.tar.gz.sigstore.json', world.feed.indexUrl));
      expect(bundle.statusCode).toBe(200);
      await bundle.body.dump();

      await expect(readdir(world.dir)).rejects.toThrow(/ENOENT/);
      await world.writeConfig({source: {extra: true}, keepReleases: undefined, health: {url: 'http://127.0.0.1:1/health'}});
      expect(JSON.parse(await readFile(world.configFile, 'utf8'))).toEqual({
        app: 'demo-app',
        source: {index: world.feed.indexUrl, extra: true},
        verify: {key: world.keyFile},
        health: {url: 'http://127.0.0.1:1/health'},
      });
    } finally {
      await world.cleanup();
    }
  });
});
