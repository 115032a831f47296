/**
 * Shared by the integration tests: run the built CLI against a world's install dir, and read
 * what an operator would look at afterwards (where `current` points, which release dirs exist).
 */
import {access, cp, mkdir, readdir, readFile, readlink, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, expect} from 'vitest';

import {type CliOptions, type CliResult, type ParakoProcess, type RunOptions, runParako, spawnParako} from '../fixtures/cli.js';
import {diffTrees, snapshotTree, type SnapshotOptions, UNCHANGED} from '../fixtures/tree.js';
import {makeSignedWorld, type SignedWorld, type SignedWorldOptions} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import type {World} from '../fixtures/world.js';

/**
 * One private Sigstore instance per test file and signed worlds made on demand, each cleaned
 * up after its test. Call at the top level of a test file.
 */
export function useSignedWorlds(): {make(opts?: Omit<SignedWorldOptions, 'sigstore'>): Promise<SignedWorld>; sigstore(): TestSigstore} {
  let sigstore: TestSigstore | undefined;
  const made: SignedWorld[] = [];
  beforeAll(async () => {
    sigstore = await createTestTrustRoot();
  });
  afterAll(async () => {
    await sigstore?.close();
  });
  afterEach(async () => {
    for (const world of made.splice(0)) await world.cleanup();
  });
  return {
    make: async (opts = {}) => {
      const world = await makeSignedWorld({...opts, sigstore: sigstore!});
      made.push(world);
      return world;
    },
    sigstore: () => sigstore!,
  };
}

/**
 * useSignedWorlds, plus v1.0.0 installed once per file by the real CLI: `installed()` gives a
 * test a fresh world whose install dir is a copy of it, which saves a CLI run per test.
 */
export function useInstalledWorlds(): ReturnType<typeof useSignedWorlds> & {installed(config?: Record<string, unknown>): Promise<SignedWorld>} {
  const worlds = useSignedWorlds();
  let template: SignedWorld | undefined;
  beforeAll(async () => {
    template = await makeSignedWorld({sigstore: worlds.sigstore()});
    await template.writeConfig();
    await template.publish({version: '1.0.0'});
    expectExit(await parako(template, ['update']), 0);
  });
  afterAll(async () => {
    await template?.cleanup();
  });
  return {
    ...worlds,
    installed: async (config = {}) => {
      const world = await worlds.make();
      await cloneInstall(template!, world, config);
      expect(await currentTarget(world)).toBe('releases/v1.0.0');
      return world;
    },
  };
}

/** Quick retries and a short idle timeout, so fault tests take milliseconds, not seconds. */
export const FAST_ENV: Record<string, string> = {PARAKO_RETRY_BASE_MS: '20', PARAKO_HTTP_IDLE_TIMEOUT_MS: '1000'};

/** `parako <args> --dir <world.dir>`, run to completion. */
export function parako(world: World, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runParako([...args, '--dir', world.dir], {...opts, env: {...FAST_ENV, ...opts.env}});
}

/** `parako <args> --dir <world.dir>`, started and left running. */
export function spawnInWorld(world: World, args: string[], opts: CliOptions = {}): ParakoProcess {
  return spawnParako([...args, '--dir', world.dir], {...opts, env: {...FAST_ENV, ...opts.env}});
}

/** What a failed expectation prints, so a wrong exit code shows why. */
export function explain(result: CliResult): string {
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ''}${result.timedOut ? ' (timed out)' : ''}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`;
}

export function expectExit(result: CliResult, code: number): void {
  expect(result.code, explain(result)).toBe(code);
}

/** The one JSON object `--json` prints; fails the test when stdout is anything else. */
export function jsonOf(result: CliResult): Record<string, unknown> {
  expect(result.json, `stdout is not one JSON object\n${explain(result)}`).toBeTypeOf('object');
  return result.json as Record<string, unknown>;
}

/** Where `current` points (the raw, relative link target), or undefined when there is none. */
export async function currentTarget(world: World): Promise<string | undefined> {
  try {
    return await readlink(join(world.dir, 'current'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The VERSION file `current` leads to (each test release writes its version there). */
export async function currentVersionFile(world: World): Promise<string> {
  return (await readFile(join(world.dir, 'current', 'VERSION'), 'utf8')).trim();
}

/** Entry names under releases/, sorted (staging dirs included). */
export async function releaseEntries(world: World): Promise<string[]> {
  try {
    return (await readdir(join(world.dir, 'releases'))).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Snapshot of the install dir as architecture.md §8 "Unchanged" compares it. */
export function snapshotInstall(world: World, opts: SnapshotOptions = UNCHANGED): Promise<Map<string, string>> {
  return snapshotTree(world.dir, opts);
}

/**
 * The install dir is "Unchanged" (architecture.md §8) since `before`, and `.parako/` holds no lock or
 * journal. `soft` reports a difference without stopping the test, so the exit code is checked too.
 */
export async function expectUnchanged(
  world: World,
  before: Map<string, string>,
  opts: {context?: string; soft?: boolean; ignoreReleasesDirMtime?: boolean} = {},
): Promise<void> {
  const after = await snapshotInstall(world);
  if (opts.ignoreReleasesDirMtime === true) {
    // architecture.md §8 names *file* mtimes; the UNCHANGED preset also counts directory mtimes, which
    // a staging dir made and removed again changes. Callers that opt out check it separately.
    before = new Map(before);
    for (const map of [before, after]) {
      const line = map.get('releases');
      if (line !== undefined) map.set('releases', line.replace(/ mtime=\S+/, ''));
    }
  }
  // An empty .parako/downloads/ may come and go (UNCHANGED: entries of .parako/ come and go);
  // any file left in it is a leftover download and shows up in the diff.
  const downloads = '.parako/downloads';
  if (!before.has(downloads) && after.has(downloads) && ![...after.keys()].some((path) => path.startsWith(`${downloads}/`))) {
    after.delete(downloads);
  }
  const check = opts.soft === true ? expect.soft : expect;
  check(diffTrees(before, after), `install dir changed${opts.context ? ` (${opts.context})` : ''}`).toEqual([]);
  const leftovers = ['lock', 'state.json'].filter((name) => after.has(`.parako/${name}`));
  check(leftovers, 'leftovers in .parako/').toEqual([]);
}

/** Lines of .parako/history.jsonl, parsed. */
export async function history(world: World): Promise<Array<Record<string, unknown>>> {
  try {
    const text = await readFile(join(world.dir, '.parako', 'history.jsonl'), 'utf8');
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Copies an install dir made by the real CLI (a template world, set up once per file) into
 * `world`, then writes `world`'s own parako.json (its feed, its key). Saves a CLI run per test
 * where only the state after a first install matters.
 */
export async function cloneInstall(template: World, world: World, config: Record<string, unknown> = {}): Promise<void> {
  await cp(template.dir, world.dir, {recursive: true, preserveTimestamps: true, verbatimSymlinks: true});
  await world.writeConfig(config);
}

/**
 * A data dir whose package.json links the first-party plugin at `root`, as `parako plugins
 * link` would, for a build that does not bundle it; `{}` when the running parako already
 * bundles it (its pre-swap hook is listed).
 */
export async function linkUnlessBundled(plugin: string, root: string, dir: string): Promise<Record<string, string>> {
  const bundled = jsonOf(await runParako(['hooks', '--json']));
  const preSwap = (bundled.hooks as Record<string, Array<{plugin: string}>>)['pre-swap'] ?? [];
  if (preSwap.some((hook) => hook.plugin === plugin)) return {};
  await mkdir(dir, {recursive: true});
  await writeFile(join(dir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins: [{type: 'link', name: plugin, root}]}}));
  return {PARAKO_DATA_DIR: dir};
}
