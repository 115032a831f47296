/**
 * Measurement 6: how many flush syscalls (fsync, fdatasync, syncfs, sync, sync_file_range) make
 * the node_modules-like release of measurement 3 durable, counted with `strace -f -c` (children
 * included, so the `sync -f` parako runs is in the count). On the disk under TMPDIR, not tmpfs:
 * the count is what the disk has to honour. Three rows: `parako update` as it runs (one syncfs of
 * the staging dir's filesystem), `parako update` with no `sync` on PATH (its fallback, an fsync
 * of every file and directory: what every update did before issue 14), and the plain tools,
 * `tar -xzf` then `sync -f` of the tree. Counts, not times: disk timings on a shared VM are noise.
 */
import {mkdir, readFile, rm, statfs} from 'node:fs/promises';
import {join} from 'node:path';

import {repoRoot} from '../test/fixtures/cli.js';
import {artifactPath, startFeedServer} from '../test/fixtures/feed-server.js';
import {type FlushCount, parseFlushCount, STRACE, straceFlushArgs} from '../test/fixtures/strace.js';
import {buildNodeModulesRelease, signFileWithKey} from './artifacts.js';
import {type BenchContext, freshInstallDir} from './context.js';
import {type ResultRow, bytes, sample} from './table.js';

/** statfs f_type of tmpfs (linux/magic.h): syscalls are counted the same there, but nothing reaches a disk. */
const TMPFS_MAGIC = 0x01021994;

/** Counts are the same run after run; a few runs show it. */
const RUNS = 3;

export async function flushCounts(ctx: BenchContext): Promise<ResultRow[]> {
  const strace = STRACE;
  if (strace === undefined) {
    ctx.progress('flushes: strace is not installed (Debian package strace); measurement 6 skipped');
    const missing = 'not measured: strace is not installed (Debian package strace)';
    return [{measurement: '6. flush syscalls of `parako update --no-restart`', metric: 'flush syscalls (strace -f -c)', n: 0, median: '—', range: '—', compared: missing}];
  }
  const {treeFiles, treeBytes} = ctx.sizes;
  const feedDir = join(ctx.workDir, 'flushes-feed');
  ctx.progress(`flushes: building a node_modules-like release of ${treeFiles} files, ${bytes(treeBytes)}`);
  const release = await buildNodeModulesRelease(feedDir, {version: '3.0.0', fileCount: treeFiles, totalBytes: treeBytes});
  const feed = await startFeedServer({releases: [{...release, bundleFile: await signFileWithKey(release.file, ctx.key)}], root: feedDir});
  const emptyBin = join(ctx.workDir, 'flushes-empty-bin');
  await mkdir(emptyBin, {recursive: true});
  const reports = join(ctx.workDir, 'flushes-reports');
  await mkdir(reports, {recursive: true});
  const counts = {syncfs: [] as FlushCount[], fsyncEach: [] as FlushCount[], plain: [] as FlushCount[]};
  const trees: string[] = [];
  let counter = 0;
  const counted = async (command: string[], env: Record<string, string> = {}): Promise<FlushCount> => {
    const report = join(reports, `strace-${++counter}.txt`);
    await ctx.runner.settle();
    await ctx.runner.run(strace, straceFlushArgs(report, command), {cwd: ctx.workDir, env});
    return parseFlushCount(await readFile(report, 'utf8'));
  };
  const update = async (name: string, env: Record<string, string> = {}): Promise<FlushCount> => {
    const dir = await freshInstallDir(ctx, name, feed.indexUrl);
    trees.push(dir);
    return counted([process.execPath, join(repoRoot, 'bin', 'run.js'), 'update', '--version', release.version, '--no-restart', '--dir', dir], env);
  };
  try {
    for (let i = 0; i < RUNS; i++) {
      ctx.progress(`flushes: round ${i + 1}/${RUNS}`);
      counts.syncfs.push(await update(`flushes-syncfs-${i}`));
      counts.fsyncEach.push(await update(`flushes-fsync-each-${i}`, {PATH: emptyBin}));
      const tree = join(ctx.workDir, 'flushes-plain', String(i));
      await mkdir(tree, {recursive: true});
      trees.push(tree);
      counts.plain.push(await counted(['sh', '-c', 'tar -xzf "$1" -C "$2" && sync -f "$2"', 'plain', release.file, tree]));
    }
  } finally {
    await feed.close();
    ctx.progress('flushes: removing the extracted trees');
    for (const dir of [feedDir, emptyBin, reports, ...trees, join(ctx.workDir, 'flushes-plain')]) await rm(dir, {recursive: true, force: true});
  }

  const where = (await statfs(ctx.workDir)).type === TMPFS_MAGIC ? 'on tmpfs (TMPDIR): the calls are counted, nothing reaches a disk' : 'on the disk under TMPDIR';
  const what = `${treeFiles} files, ${bytes(treeBytes)} unpacked`;
  const row = (measurement: string, runs: FlushCount[], compared: string): ResultRow => {
    const totals = sample(runs.map((r) => r.total));
    return {
      measurement,
      metric: `flush syscalls (strace -f -c), ${where}`,
      n: totals.n,
      median: String(totals.median),
      range: `${totals.min} – ${totals.max}`,
      compared: `${compared}; ${describeCalls(runs[0]!)}`,
    };
  };
  const ofPlain = sample(counts.plain.map((r) => r.total)).median;
  const ofEach = sample(counts.fsyncEach.map((r) => r.total)).median;
  return [
    row(`6. \`parako update --no-restart\`, node_modules-like release (${what})`, counts.syncfs, `plain tools ${ofPlain}; the fsync of every file ${ofEach}`),
    row('6. the same, no `sync` on PATH: fsync of every file and directory (as before issue 14)', counts.fsyncEach, 'the fallback'),
    row('6. plain tools: `tar -xzf` + `sync -f` of the tree', counts.plain, 'baseline'),
  ];
}

function describeCalls(count: FlushCount): string {
  const named = Object.entries(count.calls).map(([name, n]) => `${name} ${n}`);
  return named.length === 0 ? 'none' : named.join(', ');
}
