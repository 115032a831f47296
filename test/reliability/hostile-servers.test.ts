/**
 * Reliability: a release server that misbehaves on purpose never gets past the download
 * (architecture.md §8, §3 steps 3, 4, 6). Each hostile server ends the update with a message naming
 * what went wrong, exit 3, and the install dir "Unchanged": no staging dir, no temp link, no
 * partial download, nothing left in TMPDIR.
 */
import {createHash, randomBytes} from 'node:crypto';
import {mkdir, readdir, readFile, truncate, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {afterEach, describe, expect, it} from 'vitest';

import type {CliResult} from '../fixtures/cli.js';
import type {FeedRelease} from '../fixtures/feed-server.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, expectUnchanged, jsonOf, parako, releaseEntries, snapshotInstall, useInstalledWorlds} from '../integration/helpers.js';
import {type HostileServer, startHostileServer} from './hostile-server.js';

const worlds = useInstalledWorlds();
let world: SignedWorld;
let before: Map<string, string>;
let hostile: HostileServer | undefined;

afterEach(async () => {
  await hostile?.close();
  hostile = undefined;
});

/** The idle timeout a stalled body gets; undici checks it on a ~1 s clock, so each attempt takes about a second. */
const IDLE_TIMEOUT_MS = 300;

/** A world with v1.0.0 installed, its own TMPDIR, and the "before" snapshot. */
async function installedWorld(): Promise<void> {
  world = await worlds.installed();
  await mkdir(tmpDir(), {recursive: true});
  before = await snapshotInstall(world);
}

const tmpDir = (): string => join(world.root, 'tmp');

/** ~200 KB of incompressible text, so the artifact is big enough to cut or stall in the middle. */
function bulk(): Record<string, string> {
  return {'assets/blob.txt': randomBytes(150_000).toString('base64')};
}

function update(env: Record<string, string> = {}): Promise<CliResult> {
  return parako(world, ['update', '--json'], {env: {TMPDIR: tmpDir(), PARAKO_RETRY_BASE_MS: '20', ...env}});
}

/** Serves an index in which `version` has other fields (an artifact elsewhere, another digest). */
async function rewriteIndexEntry(version: string, fields: {artifact?: string; sha256?: string; size?: number}): Promise<void> {
  const index = world.feed.generatedIndex();
  index.releases = index.releases.map((r) => (r.version === version ? {...r, ...fields} : r));
  await world.feed.setIndex(index);
}

/**
 * The update failed with `code`, saying `message`, and left nothing behind: the install dir is
 * "Unchanged" (architecture.md §8), current still v1.0.0, no staging dir or temp link, no download, no
 * temp file, nothing created next to the install dir.
 */
async function expectCleanFailure(result: CliResult, code: number, message: RegExp, opts: {stagingWasMade?: boolean} = {}): Promise<void> {
  expectExit(result, code);
  const json = jsonOf(result);
  expect(json).toMatchObject({code, outcome: 'failed', from: '1.0.0'});
  expect(String(json.message)).toMatch(message);
  expect(String(json.message)).toMatch(/current is still v1\.0\.0/);
  await expectNothingLeft(opts);
}

/** What every failed update must leave: see expectCleanFailure. */
async function expectNothingLeft(opts: {stagingWasMade?: boolean} = {}): Promise<void> {
  // A staging dir made and removed again moves the releases/ dir's mtime; architecture.md §8 counts file mtimes.
  await expectUnchanged(world, before, {ignoreReleasesDirMtime: opts.stagingWasMade === true});
  expect(await currentTarget(world)).toBe('releases/v1.0.0');
  expect(await releaseEntries(world), 'a staging dir was left in releases/').toEqual(['v1.0.0']);
  expect((await readdir(world.dir)).filter((name) => name.startsWith('current.tmp-')), 'temp links').toEqual([]);
  expect(await readdir(join(world.dir, '.parako', 'downloads')).catch(() => []), 'a download was left').toEqual([]);
  expect(await readdir(tmpDir()), 'a temp file was left in TMPDIR').toEqual([]);
  expect((await readdir(world.root)).sort(), 'something was created next to the install dir').toEqual(['feed', 'install', 'keys', 'tmp']);
}

function artifactRequests(version: string): Array<{path: string; range?: string}> {
  return world.feed.requests.filter((r) => r.path.endsWith(`v${version}.tar.gz`));
}

describe('a hostile release server ends the update with exit 3 and changes nothing', () => {
  it('a server that always stalls mid-body is cut by the idle timeout on every retry, then exits 3 naming the timeout', async () => {
    await installedWorld();
    const release = await world.publish({version: '1.1.0', files: bulk()});
    // Each attempt resumes where the last one stalled; a tenth per attempt never completes in five.
    world.feed.faults.stallAfterBytes = {suffix: '.tar.gz', bytes: Math.floor(release.size / 10)};
    world.feed.requests.length = 0;
    const started = Date.now();
    const result = await update({PARAKO_HTTP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS)});
    const elapsed = Date.now() - started;
    await expectCleanFailure(result, 3, /failed after 5 attempts: the server stopped sending in the middle of the body \(idle timeout\) \(PARAKO_HTTP_IDLE_TIMEOUT_MS=\d+ ms; raise it for a slow link\)/);
    const requests = artifactRequests('1.1.0');
    expect(requests, JSON.stringify(requests)).toHaveLength(5);
    // Every retry resumed after what the previous attempt had received.
    expect(requests.slice(1).every((r) => /^bytes=[1-9]\d*-$/.test(r.range ?? '')), JSON.stringify(requests)).toBe(true);
    // Seconds, not the 30 s default per attempt: the timeout that fired is the configured one.
    expect(elapsed).toBeLessThan(20_000);
  });

  it('a server whose Content-Length is more than the index says is refused before a byte of the body is kept', async () => {
    await installedWorld();
    const release = await world.publish({version: '1.1.0'});
    world.feed.faults.extraBytes = {suffix: '.tar.gz', bytes: 4096};
    const result = await update();
    await expectCleanFailure(result, 3, new RegExp(`is ${release.size + 4096} bytes, more than the ${release.size} the index promises`));
  });

  it('a server that sends endless bytes without a Content-Length is cut off at the size the index says', async () => {
    await installedWorld();
    const release = await world.publish({version: '1.1.0'});
    hostile = await startHostileServer();
    const artifact = hostile.endlessBodyUrl(release.file);
    await rewriteIndexEntry('1.1.0', {artifact});
    const result = await update();
    await expectCleanFailure(result, 3, new RegExp(`sent more than the ${release.size} bytes the index promises; cut off`));
    // Not retried (the server is lying, not flaky), and the client hung up instead of reading on.
    expect(hostile.requests.filter((path) => path.startsWith('/endless/'))).toHaveLength(1);
    expect(hostile.endlessExtraBytes()).toBeLessThan(64 * 1024 * 1024);
  });

  it('an index URL that redirects to itself exits 3 saying it is a redirect loop', async () => {
    await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.redirectLoop = {suffix: 'index.json'};
    const result = await update();
    // Resolving the feed comes before the history knows a target: no from/to to compare.
    expectExit(result, 3);
    expect(String(jsonOf(result).message)).toMatch(/cannot fetch the release feed .*index\.json: the server redirects in a loop/);
    await expectNothingLeft();
  });

  it('an index URL that redirects to a new URL forever exits 3 once the redirect limit is reached', async () => {
    await installedWorld();
    hostile = await startHostileServer();
    await world.writeConfig({source: {index: hostile.redirectChainUrl('index.json')}});
    before = await snapshotInstall(world);
    const result = await update();
    expectExit(result, 3);
    expect(String(jsonOf(result).message)).toMatch(/the release feed http:\/\/127\.0\.0\.1:\d+\/redirect\/index\.json answered HTTP 302, a redirect parako does not follow: more than 5 in a row/);
    // The first request and the five redirects parako's HTTP client follows, then it gives up.
    expect(hostile.requests).toHaveLength(6);
    await expectNothingLeft();
  });

  it('an artifact URL that redirects to itself exits 3 saying it is a redirect loop', async () => {
    await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.redirectLoop = {suffix: '.tar.gz'};
    const result = await update();
    await expectCleanFailure(result, 3, /download of .*v1\.1\.0\.tar\.gz failed: the server redirects in a loop/);
    // A loop does not go away on retry: one request, no backoff.
    expect(world.feed.requests.filter((r) => r.path.endsWith('.tar.gz'))).toHaveLength(1);
  });

  it('an artifact URL that redirects to a new URL forever exits 3 once the redirect limit is reached', async () => {
    await installedWorld();
    await world.publish({version: '1.1.0'});
    hostile = await startHostileServer();
    await rewriteIndexEntry('1.1.0', {artifact: hostile.redirectChainUrl('artifact.tar.gz')});
    const result = await update();
    await expectCleanFailure(result, 3, /download failed: http:\/\/127\.0\.0\.1:\d+\/redirect\/artifact\.tar\.gz answered HTTP 302, a redirect parako does not follow: more than 5 in a row/);
    expect(hostile.requests).toHaveLength(6);
  });

  it('an index that is an HTML page exits 3 saying it is not JSON and quoting how it starts', async () => {
    await installedWorld();
    await world.publish({version: '1.1.0'});
    world.feed.faults.contentOverride = {suffix: 'index.json', body: '<!doctype html>\n<html><body><h1>Releases</h1></body></html>'};
    const result = await update();
    expectExit(result, 3);
    expect(String(jsonOf(result).message)).toMatch(/the release feed .*index\.json is not JSON \(it starts with "<!doctype html> <html><body>/);
    await expectNothingLeft();
  });

  it('a signed but truncated gzip passes verification, fails extraction with exit 3, and leaves no staging dir', async () => {
    await installedWorld();
    const release = await world.publish({version: '1.1.0', files: bulk()});
    // The publisher signed a broken file: its digest and signature are right, its gzip stream is cut short.
    await truncate(release.file, Math.floor(release.size / 2));
    const truncated = await readFile(release.file);
    await resign(release);
    await rewriteIndexEntry('1.1.0', {sha256: createHash('sha256').update(truncated).digest('hex'), size: truncated.length});
    // Without --json, so stdout shows how far it got.
    const result = await parako(world, ['update'], {env: {TMPDIR: tmpDir()}});
    expectExit(result, 3);
    expect(result.stdout).toMatch(/^verified: signed by /m);
    expect(result.stdout).not.toMatch(/^staged /m);
    expect(result.stderr).toMatch(/the artifact cannot be extracted: .*unexpected end of file.*current is still v1\.0\.0/);
    await expectNothingLeft({stagingWasMade: true});
  });
});

/** Signs the release's file as it is now, as a publisher that signed a broken build would. */
async function resign(release: FeedRelease): Promise<void> {
  if (release.bundleFile === undefined) throw new Error('a signed world publishes a bundle with every release');
  await writeFile(release.bundleFile, `${JSON.stringify(await world.sigstore.signWithKey(release.file))}\n`);
}
