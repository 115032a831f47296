/**
 * What parako does with an untrusted network and untrusted archives (architecture.md §7, §8, §3 steps
 * 3, 4 and 6): flaky servers are retried and resumed; a wrong digest, an oversized body, a
 * bad signature or a hostile archive exits 3 and leaves the install dir "Unchanged".
 */
import {randomBytes} from 'node:crypto';
import {copyFile, lstat, readdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {buildRelease} from '../fixtures/release.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {generateTestKeyPair} from '../fixtures/sigstore.js';
import type {TarEntry} from '../fixtures/tar-writer.js';
import {currentTarget, currentVersionFile, expectExit, expectUnchanged, exists, parako, releaseEntries, snapshotInstall, spawnInWorld, useInstalledWorlds} from './helpers.js';

const worlds = useInstalledWorlds();
let world: SignedWorld;

/** A world with v1.0.0 installed, and the "before" snapshot taken once .parako/ exists. */
async function installedWorld(config: Record<string, unknown> = {}): Promise<{before: Map<string, string>}> {
  world = await worlds.installed(config);
  return {before: await snapshotInstall(world)};
}

/** What the world's root holds besides the install dir, the feed and the key: nothing, unless something escaped. */
async function strayFilesOutsideInstall(): Promise<string[]> {
  return (await readdir(world.root)).filter((name) => !['install', 'feed', 'keys'].includes(name));
}

/** Bytes in .parako/downloads/ so far (the artifact being downloaded). */
async function downloadedBytes(): Promise<number> {
  const dir = join(world.dir, '.parako', 'downloads');
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith('.tar.gz')) total += (await lstat(join(dir, name)).catch(() => ({size: 0}))).size;
  }
  return total;
}

async function waitFor(condition: () => Promise<boolean>, message: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function artifactRequests(): Array<{path: string; range?: string}> {
  return world.feed.requests.filter((r) => r.path.endsWith('.tar.gz'));
}

/** ~200 KB of incompressible text, so an artifact is big enough to be cut in the middle. */
function bulk(): Record<string, string> {
  return {'assets/blob.txt': randomBytes(150_000).toString('base64')};
}

describe('a flaky release server', () => {
  it('a server that drops the connection midway is resumed with a Range request, every time', async () => {
    await installedWorld();
    // Five updates, so a resume that only works when the timing is lucky does not pass by chance.
    for (const version of ['1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']) {
      const release = await world.publish({version, files: bulk()});
      const half = Math.floor(release.size / 2);
      world.feed.faults.dropAfterBytes = {suffix: '.tar.gz', bytes: half, times: 1};
      world.feed.requests.length = 0;
      const result = await parako(world, ['update']);
      expectExit(result, 0);
      expect(await currentVersionFile(world)).toBe(version);
      const requests = artifactRequests();
      expect(requests.length, `${version}: ${JSON.stringify(requests)}`).toBe(2);
      expect(requests[0]?.range).toBeUndefined();
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]?.range ?? '')?.[1]);
      expect(resumedAt, `${version}: the retry after ${half} bytes was ${JSON.stringify(requests[1])}`).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(half);
    }
  });

  it('a download that stalls is cut by the idle timeout and resumed', async () => {
    await installedWorld();
    const release = await world.publish({version: '1.1.0', files: bulk()});
    world.feed.faults.stallAfterBytes = {suffix: '.tar.gz', bytes: Math.floor(release.size / 3)};
    world.feed.requests.length = 0;
    const child = spawnInWorld(world, ['update'], {env: {PARAKO_HTTP_IDLE_TIMEOUT_MS: '500'}});
    // Once the first bytes are on disk the server heals; only the idle timeout can get the client out.
    await waitFor(async () => (await downloadedBytes()) > 0, () => `no partial download appeared\n${child.output().stderr}`);
    world.feed.faults.stallAfterBytes = undefined;
    const result = await child.result;
    expectExit(result, 0);
    expect(await currentVersionFile(world)).toBe('1.1.0');
    expect(artifactRequests()[1]?.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('a 500 is retried and the update succeeds', async () => {
    await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.status = {suffix: '.tar.gz', code: 500, times: 2};
    world.feed.requests.length = 0;
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(artifactRequests()).toHaveLength(3);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('a server that keeps answering 500 fails with exit 3 after its retries, leaving the install dir unchanged', async () => {
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.status = {suffix: '.tar.gz', code: 500, times: 1000};
    const result = await parako(world, ['update', '--json']);
    expectExit(result, 3);
    expect(String((result.json as {message?: string})?.message)).toMatch(/500/);
    expect(artifactRequests().filter((r) => r.path.includes('v1.1.0')).length).toBeGreaterThan(1);
    await expectUnchanged(world, before);
  });

  it('an index that is an HTML page fails with exit 3 saying it is not JSON', async () => {
    const {before} = await installedWorld();
    world.feed.faults.contentOverride = {suffix: 'index.json', body: '<!doctype html><html><body>Releases</body></html>'};
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    expect(result.stderr).toMatch(/not JSON/);
    await expectUnchanged(world, before);
  });
});

describe('a download that does not match what was signed leaves current untouched', () => {
  it('a wrong sha256 in the index exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0'});
    const index = world.feed.generatedIndex();
    index.releases = index.releases.map((r) => (r.version === '1.1.0' ? {...r, sha256: 'ab'.repeat(32)} : r));
    await world.feed.setIndex(index);
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    expect(result.stderr).toMatch(/sha256/);
    await expectUnchanged(world, before);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a body larger than the index promises (size overrun) exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.extraBytes = {suffix: '.tar.gz', bytes: 4096};
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    expect(result.stderr).toMatch(/more than/);
    await expectUnchanged(world, before);
  });

  it('an index that understates the size exits 3 instead of accepting the extra bytes', async () => {
    const {before} = await installedWorld();
    const release = await world.publish({version: '1.1.0'});
    const index = world.feed.generatedIndex();
    index.releases = index.releases.map((r) => (r.version === '1.1.0' ? {...r, size: release.size - 100} : r));
    await world.feed.setIndex(index);
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    await expectUnchanged(world, before);
  });

  it('a tampered artifact, with an index that agrees with it, fails the signature check (exit 3) and leaves current untouched', async () => {
    const {before} = await installedWorld();
    const signed = await world.publish({version: '1.1.0'});
    // The attacker controls the server: a different 1.1.0 replaces the artifact and the index follows.
    const evil = await buildRelease(join(world.root, 'evil'), {app: world.app, version: '1.1.0', files: {'server.js': 'process.exit(66)\n'}});
    await copyFile(evil.file, signed.file);
    const index = world.feed.generatedIndex();
    index.releases = index.releases.map((r) => (r.version === '1.1.0' ? {...r, sha256: evil.sha256, size: evil.size} : r));
    await world.feed.setIndex(index);
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    await expectUnchanged(world, before);
  });

  it('a release signed by another key exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld();
    const release = await world.publish({version: '1.1.0'});
    const bundle = await worlds.sigstore().signWithKey(release.file, {key: generateTestKeyPair()});
    await writeFile(release.bundleFile!, JSON.stringify(bundle));
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    await expectUnchanged(world, before);
  });

  it('a release without its signature bundle (404) exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.status = {suffix: '.sigstore.json', code: 404, times: 1000};
    const result = await parako(world, ['update']);
    expectExit(result, 3);
    await expectUnchanged(world, before);
  });
});

interface HostileCase {
  name: string;
  /** The archive's extra entries, or other ways it lies; `root` is the world's root (outside the install dir). */
  spec: (root: string) => {extraEntries?: TarEntry[]; manifestVersion?: string; omitManifest?: boolean; files?: Record<string, string>};
}

const HOSTILE: HostileCase[] = [
  {name: 'a ../ path', spec: () => ({extraEntries: [{path: '../evil', content: 'x'}]})},
  {name: 'a nested ../ path', spec: () => ({extraEntries: [{path: 'a/../../evil-nested', content: 'x'}]})},
  {name: 'an absolute path', spec: (root) => ({extraEntries: [{path: join(root, 'evil-abs'), content: 'x'}]})},
  {name: 'a symlink out of the release', spec: () => ({extraEntries: [{path: 'link', type: 'symlink', linkpath: '../../etc'}]})},
  {name: 'an absolute symlink', spec: () => ({extraEntries: [{path: 'passwd', type: 'symlink', linkpath: '/etc/passwd'}]})},
  {
    name: 'a file written through a symlink that leaves the release',
    spec: () => ({extraEntries: [{path: 'up', type: 'symlink', linkpath: '../../..'}, {path: 'up/evil-through-link', content: 'x'}]}),
  },
  {
    name: 'a chain of symlinks, each harmless on its own, that leads out of the release',
    spec: () => ({extraEntries: [{path: 'a', type: 'dir'}, {path: 'a/b', type: 'symlink', linkpath: '..'}, {path: 'u', type: 'symlink', linkpath: 'a/b/..'}]}),
  },
  {name: 'a hardlink out of the release', spec: () => ({extraEntries: [{path: 'hl', type: 'hardlink', linkpath: '../outside'}]})},
  {name: 'a hardlink to an absolute path', spec: () => ({extraEntries: [{path: 'shadow', type: 'hardlink', linkpath: '/etc/passwd'}]})},
  {name: 'a character device', spec: () => ({extraEntries: [{path: 'dev', type: 'char', devmajor: 1, devminor: 3}]})},
  {name: 'a block device', spec: () => ({extraEntries: [{path: 'disk', type: 'block', devmajor: 8, devminor: 0}]})},
  {name: 'a fifo', spec: () => ({extraEntries: [{path: 'pipe', type: 'fifo'}]})},
  {name: 'a release.json naming another version', spec: () => ({manifestVersion: '9.9.9'})},
  {name: 'a release.json naming another app', spec: () => ({files: {'release.json': JSON.stringify({app: 'other-app', version: '1.1.0'})}})},
  {name: 'no release.json', spec: () => ({omitManifest: true})},
  {name: 'a release.json that is not JSON', spec: () => ({files: {'release.json': '{"app": "demo-app", "version": '}})},
];

describe('a signed archive that is hostile is never extracted', () => {
  it.each(HOSTILE)('an archive with $name exits 3 and leaves the install dir byte-identical', async ({spec}) => {
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0', ...spec(world.root)});
    const result = await parako(world, ['update', '--json']);
    // Soft: a changed tree and a wrong exit code are both reported. The releases/ dir mtime has its own test below.
    await expectUnchanged(world, before, {soft: true, ignoreReleasesDirMtime: true});
    expect.soft(await strayFilesOutsideInstall(), 'a file was created outside the install dir').toEqual([]);
    expectExit(result, 3);
    expect(result.json).toMatchObject({code: 3, outcome: 'failed', from: '1.0.0', to: '1.1.0'});
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  // "Unchanged" (architecture.md §8) covers files, links, modes and file mtimes: the releases/ dir's own
  // mtime moves when a refused staging dir is created and removed again, as it does when a
  // pre-swap hook vetoes after staging, so the hostile-archive cases ignore only that one.

  it('the literal /tmp/evil-abs of an absolute-path entry is not created', async () => {
    const target = '/tmp/evil-abs';
    const existedBefore = await exists(target);
    const {before} = await installedWorld();
    await world.publish({version: '1.1.0', extraEntries: [{path: target, content: 'x'}]});
    const result = await parako(world, ['update']);
    await expectUnchanged(world, before, {soft: true, ignoreReleasesDirMtime: true});
    if (!existedBefore) expect(await exists(target)).toBe(false);
    expectExit(result, 3);
  });

  it('an archive with more entries than limits.maxEntries exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld({limits: {maxEntries: 4}});
    await world.publish({version: '1.1.0', files: {'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c'}});
    const result = await parako(world, ['update']);
    await expectUnchanged(world, before, {soft: true, ignoreReleasesDirMtime: true});
    expectExit(result, 3);
  });

  it('an archive that would extract to more than limits.maxExtractedBytes exits 3 and leaves the install dir byte-identical', async () => {
    const {before} = await installedWorld({limits: {maxExtractedBytes: 100_000}});
    await world.publish({version: '1.1.0', files: {'zeros.bin': '\0'.repeat(200_000)}});
    const result = await parako(world, ['update']);
    await expectUnchanged(world, before, {soft: true, ignoreReleasesDirMtime: true});
    expectExit(result, 3);
  });

  it('a setuid or setgid file (and a sticky dir) in a good archive is extracted without those bits, owned by the extracting user', async () => {
    await installedWorld();
    await world.publish({
      version: '1.1.0',
      extraEntries: [
        {path: 'bin', type: 'dir'},
        {path: 'bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o4755, uid: 4321, gid: 4321},
        {path: 'bin/group-tool', content: '#!/bin/sh\n', mode: 0o2755},
        {path: 'tmp', type: 'dir', mode: 0o1777},
      ],
    });
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    const release = join(world.dir, 'releases', 'v1.1.0');
    const modeOf = async (path: string): Promise<number> => (await lstat(join(release, path))).mode & 0o7777;
    for (const path of ['bin/tool', 'bin/group-tool', 'tmp']) {
      expect((await modeOf(path)) & 0o7000, `${path} kept a setuid/setgid/sticky bit: ${(await modeOf(path)).toString(8)}`).toBe(0);
    }
    // Execute bits are kept: the release's tools must still run.
    expect((await modeOf('bin/tool')) & 0o111).toBe(0o111);
    const tool = await lstat(join(release, 'bin/tool'));
    expect([tool.uid, tool.gid]).toEqual([process.getuid?.(), process.getgid?.()]);
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0']);
  });
});
