/**
 * Measurements 1 and 2: parako streams artifacts, so its peak RSS must stop growing once the
 * artifact is bigger than its buffers. Each command runs on three sizes (1 MiB, a sixteenth of
 * the big size, the big size), interleaved round by round; a peak that kept climbing with the
 * size would mean something holds the artifact in memory.
 */
import {readFile, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {startFeedServer} from '../test/fixtures/feed-server.js';
import {type BuiltRelease, buildBigRelease} from '../test/fixtures/release.js';
import {signFileWithKey, writeRepeatingFile} from './artifacts.js';
import {type BenchContext, freshInstallDir, parako} from './context.js';
import {type PhaseSpan, phaseSpans} from './phases.js';
import type {Run} from './process.js';
import {type ResultRow, type Sample, bytes, mib, rssCells, sample, seconds, timeCells} from './table.js';

const MiB = 1024 ** 2;

export interface VerifyMemoryResult {
  rows: ResultRow[];
  /** Median peak RSS of `node -e 0`, the floor any Node CLI starts from. */
  nodeRssMiB: number;
}

/** 1. `parako verify --key` of 1 MiB, size/16 and size, with `node -e 0` and `sha256sum` of the big file. */
export async function verifyMemory(ctx: BenchContext): Promise<VerifyMemoryResult> {
  const size = ctx.sizes.verifyBytes;
  const dir = join(ctx.workDir, 'verify');
  ctx.progress(`verify: writing artifacts of 1 MiB, ${bytes(size / 16)} and ${bytes(size)}, signing each (streamed)`);
  const artifacts: Array<{size: number; file: string; bundle: string; runs: Run[]}> = [];
  for (const artifactSize of [MiB, size / 16, size]) {
    const file = join(dir, `artifact-${artifactSize}.bin`);
    await writeRepeatingFile(file, artifactSize);
    artifacts.push({size: artifactSize, file, bundle: await signFileWithKey(file, ctx.key), runs: []});
  }
  const big = artifacts[artifacts.length - 1]!;
  const verify = async (artifact: (typeof artifacts)[number]): Promise<Run> => {
    const run = await parako(ctx, ['verify', artifact.file, '--bundle', artifact.bundle, '--key', ctx.keyFile]);
    if (!run.stdout.includes('Verified OK')) throw new Error(`parako verify did not say "Verified OK":\n${run.stdout}\n${run.stderr}`);
    return run;
  };
  const sha256sum = (): Promise<Run> => ctx.runner.run('sha256sum', [big.file]);
  const node = (): Promise<Run> => ctx.runner.run(process.execPath, ['-e', '0']);

  // One untimed round: every file is in the page cache for the timed runs, and Node's code cache is warm.
  for (const artifact of artifacts) await verify(artifact);
  await sha256sum();
  const nodeRuns: Run[] = [];
  const shaRuns: Run[] = [];
  for (let i = 0; i < ctx.sizes.runs; i++) {
    ctx.progress(`verify: round ${i + 1}/${ctx.sizes.runs}`);
    nodeRuns.push(await node());
    for (const artifact of artifacts) artifact.runs.push(await verify(artifact));
    shaRuns.push(await sha256sum());
  }
  await rm(dir, {recursive: true, force: true});

  const bigTime = wallTimes(big.runs);
  const shaTime = wallTimes(shaRuns);
  const nodeRss = peakRss(nodeRuns);
  const throughput = (ms: number): string => `${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
  const label = `1. \`parako verify --key\`, ${bytes(size)} artifact`;
  return {
    nodeRssMiB: nodeRss.median,
    rows: [
      {
        measurement: label,
        metric: 'peak RSS',
        ...rssCells(peakRss(big.runs)),
        compared: `by artifact size: ${artifacts.map((a) => `${bytes(a.size)} ${mib(peakRss(a.runs).median)}`).join(', ')}; \`node -e 0\`: ${mib(nodeRss.median)}`,
      },
      {
        measurement: label,
        metric: 'wall time (throughput)',
        ...timeCells(bigTime),
        median: `${seconds(bigTime.median)} (${throughput(bigTime.median)})`,
        compared: `\`sha256sum\` of the same file: ${seconds(shaTime.median)} (${throughput(shaTime.median)}); parako ÷ sha256sum ${(bigTime.median / shaTime.median).toFixed(2)}×; 1 MiB artifact: ${seconds(wallTimes(artifacts[0]!.runs).median)}`,
      },
    ],
  };
}

export interface UpdateMemoryResult {
  rows: ResultRow[];
  /** Per run, where the big update's time went (from .parako/parako.log). */
  phases: PhaseSpan[][];
  artifactBytes: number;
}

/** 2. `parako update --no-restart` of incompressible releases of 1 MiB, size/16 and size, served on 127.0.0.1. */
/** `nodeRssMiB`: the floor measured by verifyMemory, when it ran. */
export async function updateMemory(ctx: BenchContext, nodeRssMiB?: number): Promise<UpdateMemoryResult> {
  const {updateFiles, updateFileBytes} = ctx.sizes;
  const feedDir = join(ctx.workDir, 'update-feed');
  ctx.progress(`update: building releases of 1 MiB, ${Math.max(1, updateFiles / 16)} and ${updateFiles} × ${bytes(updateFileBytes)} (incompressible, gzip -1)`);
  const specs = [
    {version: '1.0.0', fileCount: 1, fileSize: MiB},
    {version: '1.5.0', fileCount: Math.max(1, Math.round(updateFiles / 16)), fileSize: updateFileBytes},
    {version: '2.0.0', fileCount: updateFiles, fileSize: updateFileBytes},
  ];
  const releases: Array<{release: BuiltRelease; runs: Run[]}> = [];
  for (const spec of specs) releases.push({release: await buildBigRelease(feedDir, {...spec, gzipLevel: 1}), runs: []});
  const big = releases[releases.length - 1]!;
  const feed = await startFeedServer({
    releases: await Promise.all(releases.map(async ({release}) => ({...release, bundleFile: await signFileWithKey(release.file, ctx.key)}))),
    root: feedDir,
  });
  const phases: PhaseSpan[][] = [];
  try {
    const update = async (release: BuiltRelease, name: string): Promise<Run> => {
      const dir = await freshInstallDir(ctx, name, feed.indexUrl);
      await ctx.runner.settle();
      const run = await parako(ctx, ['update', '--version', release.version, '--no-restart', '--dir', dir]);
      if (release === big.release) phases.push(phaseSpans(await readFile(join(dir, '.parako', 'parako.log'), 'utf8'), run.startedAt, run.endedAt));
      await rm(dir, {recursive: true, force: true});
      return run;
    };
    await update(releases[0]!.release, 'warm-up');
    for (let i = 0; i < ctx.sizes.runs; i++) {
      ctx.progress(`update: round ${i + 1}/${ctx.sizes.runs}`);
      for (const entry of releases) entry.runs.push(await update(entry.release, `v${entry.release.version}-${i}`));
    }
  } finally {
    await feed.close();
    await rm(feedDir, {recursive: true, force: true});
  }

  const bigTime = wallTimes(big.runs);
  const unpacked = updateFiles * updateFileBytes;
  const label = `2. \`parako update --no-restart\`, ${bytes(big.release.size)} release (${updateFiles} × ${bytes(updateFileBytes)}, incompressible)`;
  return {
    artifactBytes: big.release.size,
    phases,
    rows: [
      {
        measurement: label,
        metric: 'peak RSS',
        ...rssCells(peakRss(big.runs)),
        compared: `by release size: ${releases.map((r) => `${bytes(r.release.size)} ${mib(peakRss(r.runs).median)}`).join(', ')}${nodeRssMiB === undefined ? '' : `; \`node -e 0\`: ${mib(nodeRssMiB)}`}`,
      },
      {
        measurement: label,
        metric: 'wall time (download + verify + stage + swap)',
        ...timeCells(bigTime),
        median: `${seconds(bigTime.median)} (${(unpacked / MiB / (bigTime.median / 1000)).toFixed(0)} MiB/s)`,
        compared: `${releases
          .slice(0, -1)
          .map((r) => `${bytes(r.release.size)} release: ${seconds(wallTimes(r.runs).median)}`)
          .join('; ')}; phases below`,
      },
    ],
  };
}

function peakRss(runs: Run[]): Sample {
  return sample(runs.map((r) => r.peakRssMiB ?? Number.NaN));
}

function wallTimes(runs: Run[]): Sample {
  return sample(runs.map((r) => r.wallMs));
}
