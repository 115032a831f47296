/**
 * Measurement 3: the whole pipeline against what an operator would otherwise type. Two
 * releases served on 127.0.0.1, a node_modules-like one and a smaller tree beside one large
 * incompressible asset, are each installed into a fresh dir by `parako update --no-restart`,
 * and by `curl -o` + `sha256sum -c` + `tar -xzf`; the two alternate (and swap order every
 * round) so drifting caches or clocks hit both alike.
 *
 * On tmpfs (/dev/shm) when there is one: there the pipeline is CPU and syscalls only, so the
 * ratio is parako's own overhead; a disk here adds seconds of noise (docs/performance.md).
 * What durability costs on a disk is counted in flushes by measurement 6. Without tmpfs it
 * runs under TMPDIR, with a third variant adding `sync FILE…` on every extracted entry.
 *
 * Every extracted tree stays until the last run: ext4 without a journal skips inodes freed in
 * the last minutes with a slow scan (fs/ext4/ialloc.c, recently_deleted), so deleting 20,000
 * files right before a run would bill that run for our own clean-up.
 */
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {artifactPath, startFeedServer} from '../test/fixtures/feed-server.js';
import {buildNodeModulesRelease, signFileWithKey, type TreeReleaseSpec} from './artifacts.js';
import {type BenchContext, freshInstallDir, parako} from './context.js';
import {type PhaseSpan, phaseSpans} from './phases.js';
import type {Run} from './process.js';
import {type ResultRow, bytes, ratio, sample, timeCells} from './table.js';

export interface PipelineResult {
  rows: ResultRow[];
  /** Per timed run of the node_modules-like release, from its .parako/parako.log. */
  phases: PhaseSpan[][];
  /** One more run with --log-level info, read off stderr. */
  stderrPhases: PhaseSpan[];
  /** Where the runs wrote: tmpfs, or TMPDIR when there is none. */
  where: string;
}

/** curl + sha256sum + tar, as one shell command; $5 = "sync" adds an fsync of every extracted entry. */
const BASELINE = `set -e
curl -sSf --noproxy '*' -o "$1" "$2"
echo "$3  $1" | sha256sum -c --quiet -
mkdir "$4"
tar -xzf "$1" -C "$4"
if [ "$5" = sync ]; then find "$4" -exec sync -- {} +; fi`;

interface ReleaseRuns {
  rows: ResultRow[];
  phases: PhaseSpan[][];
  stderrPhases: PhaseSpan[];
}

export async function pipelineVsPlainTools(ctx: BenchContext): Promise<PipelineResult> {
  const onTmpfs = existsSync('/dev/shm');
  const workDir = await mkdtemp(join(onTmpfs ? '/dev/shm' : ctx.workDir, 'parako-bench-pipeline-'));
  const where = onTmpfs ? 'tmpfs' : 'TMPDIR (no /dev/shm)';
  const here = {...ctx, workDir};
  try {
    const {treeFiles, treeBytes, mixedFiles, mixedBytes, mixedBigFileBytes} = ctx.sizes;
    const tree = await releaseVsPlainTools(here, {version: '3.0.0', fileCount: treeFiles, totalBytes: treeBytes}, 'node_modules-like release', !onTmpfs, where);
    const mixed = await releaseVsPlainTools(
      here,
      {version: '3.1.0', fileCount: mixedFiles, totalBytes: mixedBytes, bigFileBytes: mixedBigFileBytes},
      `${mixedFiles} files + one ${bytes(mixedBigFileBytes)} incompressible file`,
      !onTmpfs,
      where,
    );
    return {rows: [...mixed.rows, ...tree.rows], phases: tree.phases, stderrPhases: tree.stderrPhases, where};
  } finally {
    await rm(workDir, {recursive: true, force: true});
  }
}

async function releaseVsPlainTools(ctx: BenchContext, spec: TreeReleaseSpec, label: string, withSync: boolean, where: string): Promise<ReleaseRuns> {
  const feedDir = join(ctx.workDir, `feed-${spec.version}`);
  ctx.progress(`pipeline: building the ${label} (${spec.fileCount} files, ${bytes(spec.totalBytes + (spec.bigFileBytes ?? 0))}, gzip -6) on ${where}`);
  const release = await buildNodeModulesRelease(feedDir, spec);
  const feed = await startFeedServer({releases: [{...release, bundleFile: await signFileWithKey(release.file, ctx.key)}], root: feedDir});
  const artifactUrl = `${feed.url}/demo-app/${artifactPath(release)}`;
  const baselineDir = join(ctx.workDir, `baseline-${spec.version}`);
  await mkdir(baselineDir, {recursive: true});

  const runs = {parako: [] as Run[], plain: [] as Run[], plainSync: [] as Run[]};
  const phases: PhaseSpan[][] = [];
  let stderrPhases: PhaseSpan[];
  try {
    const update = async (name: string, extra: string[] = []): Promise<{run: Run; log: string}> => {
      const dir = await freshInstallDir(ctx, `${spec.version}-${name}`, feed.indexUrl);
      await ctx.runner.settle();
      const run = await parako(ctx, ['update', '--version', release.version, '--no-restart', '--dir', dir, ...extra]);
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
      ctx.progress(`pipeline: ${label}: round ${i + 1}/${ctx.sizes.runs}`);
      if (i % 2 === 0) await timedUpdate(i);
      runs.plain.push(await plainTools(`plain-${i}`, false));
      if (withSync) runs.plainSync.push(await plainTools(`plain-sync-${i}`, true));
      if (i % 2 === 1) await timedUpdate(i);
    }
    ctx.progress(`pipeline: ${label}: one more update with --log-level info, for the phase lines on stderr`);
    const {run: infoRun} = await update('log-level-info', ['--log-level', 'info']);
    stderrPhases = phaseSpans(infoRun.stderr, infoRun.startedAt, infoRun.endedAt);
  } finally {
    await feed.close();
  }

  const parakoTime = sample(runs.parako.map((r) => r.wallMs));
  const plainTime = sample(runs.plain.map((r) => r.wallMs));
  const syncTime = withSync ? sample(runs.plainSync.map((r) => r.wallMs)) : undefined;
  const what = `${label}: ${spec.fileCount} files, ${bytes(spec.totalBytes + (spec.bigFileBytes ?? 0))} unpacked, ${bytes(release.size)} .tar.gz, on ${where}`;
  const rows: ResultRow[] = [
    {
      measurement: `3. \`parako update --no-restart\`, ${what}`,
      metric: 'wall time, fresh install dir',
      ...timeCells(parakoTime),
      compared: `${ratio(parakoTime.median / plainTime.median)} the plain tools${syncTime === undefined ? '' : `; ${ratio(parakoTime.median / syncTime.median)} the plain tools + sync`}`,
    },
    {
      measurement: `3. plain tools: \`curl -o\` + \`sha256sum -c\` + \`tar -xzf\`, same release (${label})`,
      metric: 'wall time, fresh dir',
      ...timeCells(plainTime),
      compared: 'baseline (no signature check, nothing made durable)',
    },
  ];
  if (syncTime !== undefined) {
    rows.push({
      measurement: `3. plain tools + \`sync FILE…\` of every extracted entry (${label})`,
      metric: 'wall time, fresh dir',
      ...timeCells(syncTime),
      compared: 'baseline with the durability parako gets from fsync',
    });
  }
  return {rows, phases, stderrPhases};
}
