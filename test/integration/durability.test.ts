/**
 * A staged release is made durable with one syncfs(2) of its filesystem (`sync -f`) instead of
 * an fsync of every file (docs/performance.md, "Why one syncfs is enough"), and with an fsync of
 * every file where `sync -f` is missing or fails. Counted with `strace -f -c` around the real
 * CLI, children included.
 */
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, describe, expect, it} from 'vitest';

import {repoRoot, runParako} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {type FlushCount, parseFlushCount, STRACE, straceFlushArgs} from '../fixtures/strace.js';
import {currentTarget, currentVersionFile, explain, FAST_ENV, useSignedWorlds} from './helpers.js';

const STRACE_MISSING = 'strace is not installed (Debian package strace)';
if (STRACE === undefined && process.env.CI === 'true') throw new Error(`${STRACE_MISSING}; under CI=true the durability tests must run, not skip`);

const worlds = useSignedWorlds();
const scratch: string[] = [];
afterEach(async () => {
  for (const dir of scratch.splice(0)) await rm(dir, {recursive: true, force: true});
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parako-durability-'));
  scratch.push(dir);
  return dir;
}

/** A world publishing v1.0.0 with `count` small files under lib/, besides server.js, VERSION and release.json. */
async function worldWithFiles(count: number): Promise<SignedWorld> {
  const world = await worlds.make();
  await world.writeConfig();
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++) files[`lib/m${Math.floor(i / 50)}/f${i}.js`] = `module.exports = ${i};\n`;
  await world.publish({version: '1.0.0', files});
  return world;
}

/** `parako update` of the world under `strace -f -c`: the flush syscalls of parako and its children. */
async function countedUpdate(world: SignedWorld, env: Record<string, string> = {}, syscalls?: readonly string[]): Promise<FlushCount> {
  const report = join(await scratchDir(), 'strace.txt');
  const result = await runParako(straceFlushArgs(report, [process.execPath, join(repoRoot, 'bin', 'run.js'), 'update', '--dir', world.dir], syscalls), {
    program: STRACE,
    env: {...FAST_ENV, ...env},
    timeoutMs: 120_000,
  });
  expect(result.code, explain(result)).toBe(0);
  expect(await currentTarget(world)).toBe('releases/v1.0.0');
  expect(await currentVersionFile(world)).toBe('1.0.0');
  return parseFlushCount(await readFile(report, 'utf8'), syscalls);
}

describe('a staged release is made durable with a handful of flushes', () => {
  it('an update of 100 or of 1,000 files calls syncfs and makes the same few flushes either way', async ({skip}) => {
    if (STRACE === undefined) skip(STRACE_MISSING);
    const small = await countedUpdate(await worldWithFiles(100));
    const large = await countedUpdate(await worldWithFiles(1000));
    for (const counted of [small, large]) {
      expect(counted.calls.syncfs, JSON.stringify(counted.calls)).toBeGreaterThanOrEqual(1);
      expect(counted.total, JSON.stringify(counted.calls)).toBeLessThan(50);
    }
    // Ten times the files, not one flush more: nothing is flushed per file.
    expect(large.total, `100 files: ${JSON.stringify(small.calls)}; 1,000 files: ${JSON.stringify(large.calls)}`).toBe(small.total);
  });

  it('without a sync program on PATH, every file and directory is still fsynced', async ({skip}) => {
    if (STRACE === undefined) skip(STRACE_MISSING);
    const world = await worldWithFiles(300);
    const emptyBin = await scratchDir();
    const counted = await countedUpdate(world, {PATH: emptyBin});
    expect(counted.calls.syncfs ?? 0).toBe(0);
    // 303 files and at least 7 directories, each fsynced before the rename.
    expect(counted.calls.fsync ?? 0, JSON.stringify(counted.calls)).toBeGreaterThanOrEqual(310);
  });

  it('a sync without -f (old coreutils) that exits 1 falls back to an fsync of every file', async ({skip}) => {
    if (STRACE === undefined) skip(STRACE_MISSING);
    const world = await worldWithFiles(300);
    const bin = await scratchDir();
    const oldSync = join(bin, 'sync');
    await writeFile(oldSync, "#!/bin/sh\necho \"sync: invalid option -- 'f'\" >&2\nexit 1\n");
    await chmod(oldSync, 0o755);
    const counted = await countedUpdate(world, {PATH: `${bin}:/usr/bin:/bin`});
    expect(counted.calls.syncfs ?? 0).toBe(0);
    expect(counted.calls.fsync ?? 0, JSON.stringify(counted.calls)).toBeGreaterThanOrEqual(310);
  });
});

/** The syscalls that look a path up or make one: what an extractor repeats per entry when it trusts nothing it made. */
const PATH_SYSCALLS = ['openat', 'open', 'mkdir', 'mkdirat', 'statx', 'newfstatat', 'lstat', 'stat', 'access', 'faccessat', 'faccessat2'];

describe('staging makes each directory once and each file with one open', () => {
  it('900 more files cost one open each, and no mkdir or stat per file (node-tar\'s unpacker made 7 more)', async ({skip}) => {
    if (STRACE === undefined) skip(STRACE_MISSING);
    const small = await countedUpdate(await worldWithFiles(100), {}, PATH_SYSCALLS);
    const large = await countedUpdate(await worldWithFiles(1000), {}, PATH_SYSCALLS);
    // worldWithFiles puts 50 files in a directory: 18 more directories for the 900 more files.
    const perFile = (large.total - small.total) / 900;
    expect(perFile, `100 files: ${JSON.stringify(small.calls)}; 1,000 files: ${JSON.stringify(large.calls)}`).toBeLessThan(1.5);
    expect((large.calls.openat ?? 0) - (small.calls.openat ?? 0)).toBeGreaterThanOrEqual(900);
  });
});
