/**
 * Measurement 4: what an operator waits for before parako does anything. `parako --version`
 * is Node + oclif; `parako status` on an empty dir adds loading a command and reading the dir.
 * Both against `node -e 0`, the floor for any Node program, interleaved round by round; for
 * this checkout, the npm tarball installed with npm install -g, and the standalone tarball on
 * its own Node (whose floor is measured too). For this checkout also `parako status` of an
 * install dir that retains three node_modules-like releases (installed by parako, on tmpfs
 * when there is one): what it reads about them must not grow with their files.
 */
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {startFeedServer} from '../test/fixtures/feed-server.js';
import {buildNodeModulesRelease, signFileWithKey} from './artifacts.js';
import {type BenchContext, freshInstallDir, parako} from './context.js';
import {installedCopies} from './installed.js';
import type {Run} from './process.js';
import {type ResultRow, mib, ratio, sample, timeCells} from './table.js';

export async function startup(ctx: BenchContext): Promise<ResultRow[]> {
  const emptyDir = join(ctx.workDir, 'empty-install');
  await mkdir(emptyDir, {recursive: true});
  const retained = await installThreeReleases(ctx);
  try {
    return await measure(ctx, emptyDir, retained.dir);
  } finally {
    await retained.remove();
  }
}

/** An install dir on which parako installed three node_modules-like releases of ctx.sizes.treeFiles files each. */
async function installThreeReleases(ctx: BenchContext): Promise<{dir: string; remove(): Promise<void>}> {
  const work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : ctx.workDir, 'parako-bench-status-'));
  const remove = (): Promise<void> => rm(work, {recursive: true, force: true});
  try {
    const feedDir = join(work, 'feed');
    const versions = ['4.0.0', '4.0.1', '4.0.2'];
    ctx.progress(`start-up: installing ${versions.length} releases of ${ctx.sizes.treeFiles} files for parako status`);
    const releases = [];
    for (const version of versions) {
      const release = await buildNodeModulesRelease(feedDir, {version, fileCount: ctx.sizes.treeFiles, totalBytes: ctx.sizes.treeBytes});
      releases.push({...release, bundleFile: await signFileWithKey(release.file, ctx.key)});
    }
    const feed = await startFeedServer({releases, root: feedDir});
    const dir = await freshInstallDir({...ctx, workDir: work}, 'three-retained', feed.indexUrl);
    try {
      for (const version of versions) await parako(ctx, ['update', '--version', version, '--no-restart', '--dir', dir]);
    } finally {
      await feed.close();
    }
    await rm(feedDir, {recursive: true, force: true});
    return {dir, remove};
  } catch (error) {
    await remove();
    throw error;
  }
}

async function measure(ctx: BenchContext, emptyDir: string, retainedDir: string): Promise<ResultRow[]> {
  const installed = await installedCopies(ctx);
  const floor = {label: `\`node -e 0\` (${process.version})`, run: () => ctx.runner.run(process.execPath, ['-e', '0'])};
  const standaloneFloor = {label: '`node -e 0` (the standalone tarball\'s bin/node)', run: () => ctx.runner.run(installed.standaloneNode, ['-e', '0'])};
  const copies = [
    {name: 'checkout', run: (args: string[]) => parako(ctx, args), floor},
    {name: 'npm install -g', run: (args: string[]) => ctx.runner.run(installed.npm, args, {cwd: ctx.workDir}), floor},
    {name: 'standalone', run: (args: string[]) => ctx.runner.run(installed.standalone, args, {cwd: ctx.workDir}), floor: standaloneFloor},
  ];
  const commands: Array<{label: string; run: () => Promise<Run>; floor?: string}> = [
    floor,
    standaloneFloor,
    {label: `\`parako status\` of 3 retained ${ctx.sizes.treeFiles}-file releases, checkout`, run: () => parako(ctx, ['status', '--dir', retainedDir]), floor: floor.label},
  ];
  for (const copy of copies) {
    commands.push(
      {label: `\`parako --version\`, ${copy.name}`, run: () => copy.run(['--version']), floor: copy.floor.label},
      {label: `\`parako status --dir <empty dir>\`, ${copy.name}`, run: () => copy.run(['status', '--dir', emptyDir]), floor: copy.floor.label},
    );
  }
  for (const command of commands) await command.run(); // untimed: warm the page cache and Node's compile cache
  const runs: Run[][] = commands.map(() => []);
  ctx.progress(`start-up: ${ctx.sizes.startupRuns} rounds`);
  for (let i = 0; i < ctx.sizes.startupRuns; i++) {
    for (const [j, command] of commands.entries()) runs[j]!.push(await command.run());
  }
  const times = runs.map((list) => sample(list.map((r) => r.wallMs)));
  const rss = runs.map((list) => sample(list.map((r) => r.peakRssMiB ?? Number.NaN)).median);
  const median = (label: string): number => times[commands.findIndex((command) => command.label === label)]!.median;
  return commands.map((command, j) => ({
    measurement: `4. start-up: ${command.label}`,
    metric: 'wall time',
    ...timeCells(times[j]!),
    compared: `${command.floor === undefined ? 'a floor' : `${ratio(times[j]!.median / median(command.floor))} ${command.floor}`}; peak RSS ${mib(rss[j]!)}`,
  }));
}
