/**
 * Reliability: an update onto a disk that fills up (architecture.md §2, §8, §3 steps 3 and 6). The
 * install dir lives on a small tmpfs. Whether the artifact does not fit or its extracted
 * tree does not, `parako update` fails with DiskFullError ("no space left …", exit 1), removes
 * what it was writing, leaves `current` and the install dir "Unchanged" and gives the space
 * back; once there is room, the next update succeeds.
 *
 * Mounting needs root (CAP_SYS_ADMIN). Without it the tests skip, saying why, except under
 * CI=true, where a skipped disk-full test would hide a missing guarantee: there they fail.
 */
import {spawnSync} from 'node:child_process';
import {mkdir, readdir, readFile, rm, statfs, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {buildBigRelease} from '../fixtures/release.js';
import {makeSignedWorld, type SignedWorld} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import {currentTarget, currentVersionFile, expectExit, expectUnchanged, jsonOf, parako, releaseEntries, snapshotInstall} from '../integration/helpers.js';

const MiB = 1024 * 1024;
/** The small disk: room for v1.0.0 and parako's state, not for what the tests try to add. */
const DISK_SIZE = 4 * MiB;
/** History and log lines a failed run may add (architecture.md §8), rounded up to whole tmpfs pages. */
const BOOKKEEPING_SLACK = 64 * 1024;

let sigstore: TestSigstore | undefined;
/** Worlds and mounts of the running test; cleaned up here, not by useSignedWorlds, because the mount must go first. */
const worlds: SignedWorld[] = [];
const mounts: string[] = [];

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
});

afterEach(async () => {
  // Unmount before removing the world: rm of a world still holding a mount point fails with EBUSY.
  const problems = mounts.splice(0).map(unmount).filter((problem): problem is string => problem !== undefined);
  for (const world of worlds.splice(0)) await world.cleanup();
  if (problems.length > 0) throw new Error(`could not unmount:\n${problems.join('\n')}`);
});

afterAll(async () => {
  await sigstore?.close();
});

/**
 * A world whose install dir is a fresh DISK_SIZE tmpfs with v1.0.0 installed by the real CLI.
 * The decompression-bomb cap is raised far above the disk, so only the disk can stop an update.
 */
async function worldOnSmallDisk(skip: (note: string) => never): Promise<SignedWorld> {
  const world = await makeSignedWorld({sigstore: sigstore!});
  worlds.push(world);
  await mkdir(world.dir, {recursive: true});
  const problem = mountTmpfs(world.dir, DISK_SIZE);
  if (problem !== undefined) {
    const why = `cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): ${problem}`;
    if (process.env.CI === 'true') throw new Error(`${why}; under CI=true the disk-full tests must run, not skip`);
    skip(why);
  }
  mounts.push(world.dir);
  await world.writeConfig({limits: {maxExtractedBytes: 1024 ** 3, maxDownloadBytes: 1024 ** 3}});
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update']), 0);
  return world;
}

/** Mounts a tmpfs of `bytes` on `dir`; returns why it could not, or undefined. */
function mountTmpfs(dir: string, bytes: number): string | undefined {
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'parako-disk-full', dir], {encoding: 'utf8'});
  if (mount.error !== undefined) return mount.error.message;
  return mount.status === 0 ? undefined : mount.stderr.trim() || `mount exited ${mount.status}`;
}

/** Gives the tmpfs on `dir` a new size, as an operator freeing space would. */
function resizeTmpfs(dir: string, bytes: number): void {
  const remount = spawnSync('mount', ['-o', `remount,size=${bytes}`, dir], {encoding: 'utf8'});
  if (remount.status !== 0) throw new Error(`cannot resize the tmpfs on ${dir}: ${remount.stderr.trim() || remount.error?.message}`);
}

/** Unmounts `dir` (lazily if something still holds it); returns why it could not, or undefined. */
function unmount(dir: string): string | undefined {
  if (spawnSync('umount', [dir]).status === 0) return undefined;
  const lazy = spawnSync('umount', ['-l', dir], {encoding: 'utf8'});
  return lazy.status === 0 ? undefined : `${dir}: ${lazy.stderr.trim() || lazy.error?.message}`;
}

async function freeBytes(world: SignedWorld): Promise<number> {
  const info = await statfs(world.dir);
  return info.bavail * info.bsize;
}

/** Publishes a signed release of one incompressible `bytes`-byte file: the artifact is about that big. */
async function publishIncompressible(world: SignedWorld, version: string, bytes: number): Promise<number> {
  const built = await buildBigRelease(world.feed.root, {app: world.app, version, fileCount: 1, fileSize: bytes});
  const bundleFile = `${built.file}.sigstore.json`;
  await writeFile(bundleFile, `${JSON.stringify(await world.sigstore.signWithKey(built.file))}\n`);
  await world.feed.addRelease({...built, bundleFile});
  return built.size;
}

/** After a failed update: nothing in .parako/downloads/, no staging dir, no temp link. */
async function expectNothingLeft(world: SignedWorld): Promise<void> {
  expect(await readdir(join(world.dir, '.parako', 'downloads')).catch(() => []), 'a download was left').toEqual([]);
  expect(await releaseEntries(world), 'a staging dir was left in releases/').toEqual(['v1.0.0']);
  expect((await readdir(world.dir)).filter((name) => name.startsWith('current.tmp-')), 'temp links').toEqual([]);
  expect(await currentTarget(world)).toBe('releases/v1.0.0');
}

describe('an update onto a full disk fails cleanly and gives the space back', () => {
  it('a release that downloads but does not fit once extracted fails with DiskFullError, removes its staging dir, and a smaller release installs afterwards', async ({skip}) => {
    const world = await worldOnSmallDisk(skip);
    // 24 MiB of zeros gzip to a few KiB: the download fits, the extracted tree cannot.
    await world.publish({version: '1.1.0', files: {'zeros.bin': '\0'.repeat(24 * MiB)}});
    const before = await snapshotInstall(world);
    const freeBefore = await freeBytes(world);

    const result = await parako(world, ['update', '--json']);
    expectExit(result, 1);
    const json = jsonOf(result);
    expect(json).toMatchObject({code: 1, outcome: 'failed', reason: 'disk-full', from: '1.0.0', to: '1.1.0'});
    expect(String(json.message)).toMatch(/^no space left on \S+\/releases while staging v1\.1\.0; the staging dir was removed and current is untouched/);
    expect(String(json.next)).toMatch(/free space/);
    // A staging dir made and removed again moves the releases/ dir's mtime; architecture.md §8 counts file mtimes.
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
    await expectNothingLeft(world);
    expect(await freeBytes(world), 'the failed run kept disk space').toBeGreaterThanOrEqual(freeBefore - BOOKKEEPING_SLACK);

    // The operator publishes (or picks) a release that fits: the failed attempt left nothing in its way.
    await world.publish({version: '1.2.0', files: {'zeros.bin': '\0'.repeat(MiB)}});
    expectExit(await parako(world, ['update']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.2.0');
    expect(await currentVersionFile(world)).toBe('1.2.0');
    expect((await readFile(join(world.dir, 'current', 'zeros.bin'))).length).toBe(MiB);
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.2.0']);
  });

  it('an artifact bigger than the free space fails with DiskFullError while downloading, removes the partial download, and installs once there is room', async ({skip}) => {
    const world = await worldOnSmallDisk(skip);
    const size = await publishIncompressible(world, '1.1.0', 2 * DISK_SIZE);
    expect(size).toBeGreaterThan(await freeBytes(world));
    const before = await snapshotInstall(world);
    const freeBefore = await freeBytes(world);
    world.feed.requests.length = 0;

    const result = await parako(world, ['update', '--json']);
    expectExit(result, 1);
    const json = jsonOf(result);
    expect(json).toMatchObject({code: 1, outcome: 'failed', reason: 'disk-full', from: '1.0.0', to: '1.1.0'});
    expect(String(json.message)).toMatch(/^no space left on \S+\/\.parako\/downloads while downloading \S+\/demo-app-v1\.1\.0\.tar\.gz/);
    expect(String(json.message)).toMatch(/current is still v1\.0\.0/);
    await expectUnchanged(world, before);
    await expectNothingLeft(world);
    expect(await freeBytes(world), 'the partial download still takes space').toBeGreaterThanOrEqual(freeBefore - BOOKKEEPING_SLACK);
    // A full disk is not a flaky network: one request, no retries that fill it again.
    expect(world.feed.requests.filter((r) => r.path.endsWith('.tar.gz'))).toHaveLength(1);

    // Room for the artifact and its extracted tree at once (the download is removed only after staging).
    resizeTmpfs(world.dir, 8 * DISK_SIZE);
    expectExit(await parako(world, ['update']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await currentVersionFile(world)).toBe('1.1.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0']);
  });

  it('a disk with no room at all fails at the lock with DiskFullError, leaves no lock or lock draft, and works once space is freed', async ({skip}) => {
    const world = await worldOnSmallDisk(skip);
    await world.publish({version: '1.1.0'});
    // The operator's own data filled the disk to the last byte.
    const ballast = join(world.dir, 'runtime', 'ballast');
    await mkdir(join(world.dir, 'runtime'), {recursive: true});
    await writeFile(ballast, Buffer.alloc(await freeBytes(world)));
    expect(await freeBytes(world)).toBe(0);
    const before = await snapshotInstall(world);

    const result = await parako(world, ['update', '--json']);
    expectExit(result, 1);
    const json = jsonOf(result);
    expect(json).toMatchObject({code: 1, reason: 'disk-full'});
    expect(String(json.message)).toMatch(/^no space left on \S+\/\.parako to take the lock; nothing was changed/);
    await expectUnchanged(world, before);
    expect((await readdir(join(world.dir, '.parako'))).filter((name) => name.startsWith('lock')), 'lock or lock draft left').toEqual([]);

    await rm(ballast);
    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout, 'no stale lock to take over').not.toMatch(/stale lock/);
    expect(await currentVersionFile(world)).toBe('1.1.0');
  });
});
