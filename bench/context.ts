/** What every measurement is given: where to work, how big, how many runs, and how to run parako. */
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {repoRoot} from '../test/fixtures/cli.js';
import type {TestKeyPair} from '../test/fixtures/sigstore.js';
import type {Run, Runner} from './process.js';

export interface Sizes {
  /** Measurement 1: the artifact `parako verify` reads. */
  verifyBytes: number;
  /** Measurement 2: an incompressible release of updateFiles × updateFileBytes. */
  updateFiles: number;
  updateFileBytes: number;
  /** Measurement 3: a node_modules-like release. */
  treeFiles: number;
  treeBytes: number;
  /** Measurement 3: a smaller tree of code beside one large incompressible asset. */
  mixedFiles: number;
  mixedBytes: number;
  mixedBigFileBytes: number;
  /** Measurement 5: entries of each kind in a release, and symlinks for the older checkout. */
  stageEntries: number;
  baselineSymlinks: number;
  /** Runs per measured command (start-up has its own count). */
  runs: number;
  startupRuns: number;
}

export const FULL: Sizes = {
  verifyBytes: 1024 ** 3,
  updateFiles: 64,
  updateFileBytes: 16 * 1024 ** 2,
  treeFiles: 20_000,
  treeBytes: 200_000_000,
  mixedFiles: 5_000,
  mixedBytes: 50_000_000,
  mixedBigFileBytes: 25_000_000,
  stageEntries: 100_000,
  baselineSymlinks: 20_000,
  runs: 5,
  startupRuns: 20,
};

export const QUICK: Sizes = {
  verifyBytes: 64 * 1024 ** 2,
  updateFiles: 4,
  updateFileBytes: 16 * 1024 ** 2,
  treeFiles: 1_000,
  treeBytes: 10_000_000,
  mixedFiles: 500,
  mixedBytes: 5_000_000,
  mixedBigFileBytes: 2_500_000,
  stageEntries: 10_000,
  baselineSymlinks: 5_000,
  runs: 3,
  startupRuns: 5,
};

export interface BenchContext {
  /** Everything generated goes below this temp dir, removed at the end. */
  workDir: string;
  sizes: Sizes;
  runner: Runner;
  /** Signs every artifact; its public key is in keyFile. */
  key: TestKeyPair;
  keyFile: string;
  /** Progress for the person waiting (stderr); stdout carries only the report. */
  progress(message: string): void;
}

/** `node bin/run.js …args` of this checkout (the built dist/), measured. */
export function parako(ctx: BenchContext, args: string[], opts: {allowFailure?: boolean} = {}): Promise<Run> {
  return ctx.runner.run(process.execPath, [join(repoRoot, 'bin', 'run.js'), ...args], {cwd: ctx.workDir, ...opts});
}

/** A new install dir holding only parako.json, pointed at `indexUrl` and verifying with the bench key. */
export async function freshInstallDir(ctx: BenchContext, name: string, indexUrl: string): Promise<string> {
  const dir = join(ctx.workDir, 'installs', name);
  await mkdir(dir, {recursive: true});
  const config = {app: 'demo-app', source: {index: indexUrl}, verify: {key: ctx.keyFile}, keepReleases: 3};
  await writeFile(join(dir, 'parako.json'), `${JSON.stringify(config, null, 2)}\n`);
  return dir;
}
