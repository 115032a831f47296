/**
 * Measurement 3: the whole pipeline against what an operator would otherwise type. A
 * node_modules-like release served on 127.0.0.1 is installed into a fresh dir by
 * `parako update --no-restart`, and by `curl -o` + `sha256sum -c` + `tar -xzf`; the two
 * alternate (and swap order every round) so drifting caches or clocks hit both alike. A third
 * variant adds `sync FILE…` on every extracted entry, the durability parako pays for with fsync.
 *
 * Every extracted tree stays on disk until the last run: ext4 without a journal skips inodes
 * freed in the last minutes with a slow scan (fs/ext4/ialloc.c, recently_deleted), so deleting
 * 20,000 files right before a run would bill that run for our own clean-up.
 */
import {mkdir, readFile, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {artifactPath, startFeedServer} from '../test/fixtures/feed-server.js';
import {buildNodeModulesRelease, signFileWithKey} from './artifacts.js';
import {type BenchContext, freshInstallDir, parako} from './context.js';
import {type PhaseSpan, phaseSpans} from './phases.js';
import type {Run} from './process.js';
import {type ResultRow, bytes, ratio, sample, timeCells} from './table.js';

export interface PipelineResult {
  rows: ResultRow[];
  /** Per timed run, from its .parako/parako.log. */
  phases: PhaseSpan[][];
  /** One more run with --log-level info, read off stderr. */
  stderrPhases: PhaseSpan[];
}

/** curl + sha256sum + tar, as one shell command; $5 = "sync" adds an fsync of every extracted entry. */
const BASELINE = `set -e
curl -sSf --noproxy '*' -o "$1" "$2"
echo "$3  $1" | sha256sum -c --quiet -
mkdir "$4"
tar -xzf "$1" -C "$4"
if [ "$5" = sync ]; then find "$4" -exec sync -- {} +; fi`;

export async function pipelineVsPlainTools(ctx: BenchContext): Promise<PipelineResult> {
  const {treeFiles, treeBytes} = ctx.sizes;
  const feedDir = join(ctx.workDir, 'pipeline-feed');
  ctx.progress(`pipeline: building a node_modules-like release of ${treeFiles} files, ${bytes(treeBytes)} (gzip -6)`);
  const release = await buildNodeModulesRelease(feedDir, {version: '3.0.0', fileCount: treeFiles, totalBytes: treeBytes});
  const feed = await startFeedServer({releases: [{...release, bundleFile: await signFileWithKey(release.file, ctx.key)}], root: feedDir});
  const artifactUrl = `${feed.url}/demo-app/${artifactPath(release)}`;
  const baselineDir = join(ctx.workDir, 'baseline');
  await mkdir(baselineDir, {recursive: true});
  const installDirs: string[] = [];

  const runs = {parako: [] as Run[], plain: [] as Run[], plainSync: [] as Run[]};
  const phases: PhaseSpan[][] = [];
  let stderrPhases: PhaseSpan[];
  try {
    const update = async (name: string, extra: string[] = []): Promise<{run: Run; log: string}> => {
      const dir = await freshInstallDir(ctx, name, feed.indexUrl);
      await ctx.runner.settle();
      const run = await parako(ctx, ['update', '--version', release.version, '--no-restart', '--dir', dir, ...extra]);
      installDirs.push(dir);
      return {run, log: await readFile(join(dir, '.parako', 'parako.log'), 'utf8')};
    };
    const plainTools = async (name: string, sync: boolean): Promise<Run> => {
      const tarball = join(baselineDir, `${name}.tar.gz`);
      await ctx.runner.settle();
      const run = await ctx.runner.run('sh', ['-c', BASELINE, 'baseline', tarball, artifactUrl, release.sha256, join(baselineDir, name), sync ? 'sync' : '']);
      await rm(tarball); // one file: no scan worth mentioning
      return run;
    };
    const timedUpdate = async (i: number): Promise<void> => {
      const {run, log} = await update(`pipeline-${i}`);
      runs.parako.push(run);
      phases.push(phaseSpans(log, run.startedAt, run.endedAt));
    };

    await update('warm-up');
    await plainTools('warm-up', false);
    for (let i = 0; i < ctx.sizes.runs; i++) {
      ctx.progress(`pipeline: round ${i + 1}/${ctx.sizes.runs}`);
      if (i % 2 === 0) await timedUpdate(i);
      runs.plain.push(await plainTools(`plain-${i}`, false));
      runs.plainSync.push(await plainTools(`plain-sync-${i}`, true));
      if (i % 2 === 1) await timedUpdate(i);
    }
    ctx.progress('pipeline: one more update with --log-level info, for the phase lines on stderr');
    const {run: infoRun} = await update('log-level-info', ['--log-level', 'info']);
    stderrPhases = phaseSpans(infoRun.stderr, infoRun.startedAt, infoRun.endedAt);
  } finally {
    await feed.close();
    ctx.progress('pipeline: removing the extracted trees');
    for (const dir of [feedDir, baselineDir, ...installDirs]) await rm(dir, {recursive: true, force: true});
  }

  const parakoTime = sample(runs.parako.map((r) => r.wallMs));
  const plainTime = sample(runs.plain.map((r) => r.wallMs));
  const syncTime = sample(runs.plainSync.map((r) => r.wallMs));
  const what = `${treeFiles} files, ${bytes(treeBytes)} unpacked, ${bytes(release.size)} .tar.gz`;
  return {
    phases,
    stderrPhases,
    rows: [
      {
        measurement: `3. \`parako update --no-restart\`, node_modules-like release (${what})`,
        metric: 'wall time, fresh install dir',
        ...timeCells(parakoTime),
        compared: `${ratio(parakoTime.median / plainTime.median)} the plain tools; ${ratio(parakoTime.median / syncTime.median)} the plain tools + sync`,
      },
      {
        measurement: '3. plain tools: `curl -o` + `sha256sum -c` + `tar -xzf`, same release',
        metric: 'wall time, fresh dir',
        ...timeCells(plainTime),
        compared: 'baseline (no signature check, nothing made durable)',
      },
      {
        measurement: '3. plain tools + `sync FILE…` of every extracted entry',
        metric: 'wall time, fresh dir',
        ...timeCells(syncTime),
        compared: 'baseline with the durability parako gets from fsync',
      },
    ],
  };
}
