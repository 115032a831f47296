/**
 * Shared by the reliability tests: stop the real CLI at a pause point and SIGKILL it, and check
 * the promises of architecture.md §2 afterwards — `current` leads to a complete release, every release
 * dir without `.staging` in its name is complete, and nothing temporary is left behind.
 */
import {lstat, readdir, readFile, realpath} from 'node:fs/promises';
import {join, relative} from 'node:path';

import {afterEach, expect} from 'vitest';

import type {CliOptions, CliResult, ParakoProcess} from '../fixtures/cli.js';
import {demoServerJs, type ReleaseManifest} from '../fixtures/release.js';
import type {World} from '../fixtures/world.js';
import {currentTarget, exists, releaseEntries, spawnInWorld} from '../integration/helpers.js';

/**
 * Processes a test started, SIGKILLed after each test if still running: a test that failed
 * half-way must not leave a paused parako behind. Call at the top level of a test file.
 */
export function useChildren(): (child: ParakoProcess) => ParakoProcess {
  const children: ParakoProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await child.result.catch(() => undefined);
    }
  });
  return (child) => {
    children.push(child);
    return child;
  };
}

/**
 * `parako <args>` started with PARAKO_TEST_PAUSE_AT=<point>, waited for until it says it
 * stopped there, then killed with SIGKILL. Fails when the point is never reached.
 */
export async function killAt(
  world: World,
  args: string[],
  point: string,
  track: (child: ParakoProcess) => ParakoProcess,
  opts: CliOptions = {},
): Promise<{pid: number; result: CliResult}> {
  const child = track(spawnInWorld(world, args, {...opts, env: {...opts.env, PARAKO_TEST_PAUSE_AT: point}}));
  await child.waitForOutput(new RegExp(`PARAKO_TEST_PAUSED_AT ${point}\\n`), 30_000);
  child.kill('SIGKILL');
  const result = await child.result;
  // A run that finished on its own between the pause and the kill would prove nothing.
  expect(result.signal, `parako was not killed by SIGKILL\n${result.stdout}\n${result.stderr}`).toBe('SIGKILL');
  return {pid: child.pid!, result};
}

/** What a published test release unpacks to: every file's exact bytes, and release.json's fields. */
export interface ExpectedRelease {
  version: string;
  /** Compared with toMatchObject: the fields a test knows. */
  manifest: Partial<ReleaseManifest>;
  /** Every file except release.json, path -> content. */
  files: Record<string, string>;
}

/** The tree test/fixtures/release.ts builds for `version`: its defaults plus `files`. */
export function expectedRelease(app: string, version: string, manifest: Partial<ReleaseManifest> = {}, files: Record<string, string> = {}): ExpectedRelease {
  return {
    version,
    manifest: {app, version, ...manifest},
    files: {'server.js': demoServerJs(app, version), VERSION: `${version}\n`, ...files},
  };
}

/**
 * `current` is a relative link to releases/v<version> (never missing, never dangling), and
 * every release dir under a final name holds exactly its release, byte for byte.
 */
export async function expectCurrentComplete(world: World, version: string, known: ExpectedRelease[]): Promise<void> {
  expect(await currentTarget(world), 'current').toBe(`releases/v${version}`);
  expect(await realpath(join(world.dir, 'current')), 'current resolves').toBe(await realpath(join(world.dir, 'releases', `v${version}`)));
  expect((await readFile(join(world.dir, 'current', 'VERSION'), 'utf8')).trim(), 'VERSION behind current').toBe(version);
  for (const name of (await releaseEntries(world)).filter((entry) => entry.startsWith('v'))) {
    const release = known.find((r) => `v${r.version}` === name);
    expect(release, `unexpected release dir releases/${name}`).toBeDefined();
    await expectReleaseComplete(join(world.dir, 'releases', name), release!);
  }
}

async function expectReleaseComplete(dir: string, release: ExpectedRelease): Promise<void> {
  const files = await filesUnder(dir);
  expect(files, `files of ${dir}`).toEqual([...Object.keys(release.files), 'release.json'].sort());
  for (const [path, content] of Object.entries(release.files)) {
    // A truncated file (a release renamed before its bytes were written) fails here.
    expect(await readFile(join(dir, path), 'utf8'), `${dir}/${path}`).toBe(content);
  }
  expect(JSON.parse(await readFile(join(dir, 'release.json'), 'utf8')), `${dir}/release.json`).toMatchObject(release.manifest);
}

/** Paths of the regular files and links under `root`, relative to it, sorted. */
async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    for (const entry of await readdir(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else found.push(relative(root, path));
    }
  }
  return found.sort();
}

/** Files (not the dir itself) under .parako/downloads/. */
export async function downloadedFiles(world: World): Promise<Array<{name: string; size: number}>> {
  const dir = join(world.dir, '.parako', 'downloads');
  if (!(await exists(dir))) return [];
  const names = await readdir(dir);
  return Promise.all(names.map(async (name) => ({name, size: (await lstat(join(dir, name))).size})));
}

/**
 * Nothing an interrupted or a running operation leaves: no staging or half-pruned dir, no
 * temp link, no lock, no journal, no download. An empty .parako/downloads/ may stay (architecture.md
 * §8 counts files, and a run that finds nothing to do does not tidy the dir).
 */
export async function expectNoLeftovers(world: World): Promise<void> {
  expect((await releaseEntries(world)).filter((name) => !/^v\d/.test(name)), 'leftovers in releases/').toEqual([]);
  expect((await readdir(world.dir)).filter((name) => name.startsWith('current.tmp-')), 'temp links').toEqual([]);
  expect(await exists(join(world.dir, '.parako', 'lock')), '.parako/lock remains').toBe(false);
  expect(await exists(join(world.dir, '.parako', 'state.json')), '.parako/state.json remains').toBe(false);
  expect(await downloadedFiles(world), 'files left in .parako/downloads/').toEqual([]);
}

