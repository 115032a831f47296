/**
 * parako's benchmarks (issue 7; docs/performance.md has the figures and how to read them):
 *
 *   1. memory:   peak RSS and throughput of `parako verify` of a 1 GiB artifact
 *   2. memory:   peak RSS and wall time of `parako update` of a 1 GiB release
 *   3. pipeline: `parako update` vs curl + sha256sum + tar on a node_modules-like release and
 *                on 5,000 files + one 25 MB file (on tmpfs when there is one),
 *                and which phase its time goes to
 *   4. start-up: `parako --version` and `parako status` vs `node -e 0`
 *   5. staging:  the stage phase of 100,000 files, directories, symlinks and hardlinks (on
 *                tmpfs), and how long a SIGTERM during it takes to end the run
 *   6. flushes:  the flush syscalls (strace -f -c) that make measurement 3's release durable,
 *                against `tar -xzf` + `sync -f`
 *
 * Run with `npm run bench` (builds first), or `npx tsx bench/run.ts [--quick] [--only 1,3]
 * [--baseline <checkout>]` against an existing build; `--baseline` times another built
 * checkout in measurement 5 too. Prints Markdown on stdout, progress on stderr. A measurement,
 * not a test: nothing here passes or fails on a threshold.
 *
 * `npm run bench -- downtime [--quick]` is a separate benchmark (bench/downtime/run.ts): failed
 * requests and restart windows of `parako update` + `parako rollback` under load, per supervisor.
 */
import {existsSync, rmSync} from 'node:fs';
import {mkdtemp, rm, statfs, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {repoRoot} from '../test/fixtures/cli.js';
import {generateTestKeyPair} from '../test/fixtures/sigstore.js';
import {type BenchContext, FULL, QUICK, type Sizes} from './context.js';
import {flushCounts} from './flushes.js';
import {LoadWatch, describeMachine, machineMarkdown} from './machine.js';
import {updateMemory, verifyMemory} from './memory.js';
import {phaseTable} from './phases.js';
import {pipelineVsPlainTools} from './pipeline.js';
import {Runner, rssMethod} from './process.js';
import {stagingByKind} from './staging.js';
import {startup} from './startup.js';
import {bytes, resultsTable} from './table.js';

/** The full run's peak on disk is about 5 GiB (the node_modules-like trees are all kept until its end). */
const FULL_RUN_NEEDS = 6 * 1024 ** 3;
const QUICK_RUN_NEEDS = 1024 ** 3;
const MEDIAN_NOTE = "Each phase's median is taken on its own, so the shares need not add up to 100 %.";

if (!existsSync(join(repoRoot, 'dist', 'commands'))) {
  process.stderr.write('bench: dist/ is not built; run `npm run bench` (which builds) or `npm run build` first\n');
  process.exit(2);
}
if (process.argv[2] === 'downtime') {
  const {downtimeMain} = await import('./downtime/run.js');
  process.exit(await downtimeMain(process.argv.slice(3)));
}
const options = parseOptions(process.argv.slice(2));
const workDir = await mkdtemp(join(tmpdir(), 'parako-bench-'));
process.once('SIGINT', () => {
  rmSync(workDir, {recursive: true, force: true});
  process.exit(130);
});
try {
  const {sizes, note} = await chooseSizes(options.quick, workDir);
  const ctx = await benchContext(workDir, sizes);
  const machine = await describeMachine(workDir);
  const load = new LoadWatch();
  const selected = (n: number): boolean => options.only === undefined || options.only.includes(n);

  const verified = selected(1) ? await verifyMemory(ctx) : undefined;
  const updated = selected(2) ? await updateMemory(ctx, verified?.nodeRssMiB) : undefined;
  const pipeline = selected(3) ? await pipelineVsPlainTools(ctx) : undefined;
  const started = selected(4) ? await startup(ctx) : undefined;
  const staging = selected(5) ? await stagingByKind(ctx, {baseline: options.baseline}) : undefined;
  const flushes = selected(6) ? await flushCounts(ctx) : undefined;

  const sections = [
    `# parako benchmarks`,
    `${new Date().toISOString()}, ${options.quick ? '`--quick`' : 'full run'}${note === undefined ? '' : `. ${note}`}`,
    `## Machine\n\n${machineMarkdown(machine)}\n- Peak RSS: ${rssMethod()}\n- ${load.describe(ctx.runner.childCpuSeconds, machine.cores)}`,
    `## Results\n\n${resultsTable([...(verified?.rows ?? []), ...(updated?.rows ?? []), ...(pipeline?.rows ?? []), ...(started ?? []), ...(staging ?? []), ...(flushes ?? [])])}`,
    'Wall time is measured by the benchmark from spawn to exit, so it includes Node start-up. ' +
      'Inputs were just written, so they are read from the page cache; the feed server runs in the benchmark process on 127.0.0.1.',
  ];
  if (pipeline !== undefined) {
    const {table, largest} = phaseTable(pipeline.phases, {label: 'One run, stderr at --log-level info', spans: pipeline.stderrPhases});
    sections.push(`## Where the time goes: measurement 3 (node_modules-like release, on ${pipeline.where})\n\n${table}\n\nLargest phases (share of the median total): ${largest}. ${MEDIAN_NOTE}`);
  }
  if (updated !== undefined) {
    const {table, largest} = phaseTable(updated.phases);
    sections.push(`## Where the time goes: measurement 2 (${bytes(updated.artifactBytes)} incompressible release)\n\n${table}\n\nLargest phases: ${largest}. ${MEDIAN_NOTE}`);
  }
  process.stdout.write(`${sections.join('\n\n')}\n`);
} finally {
  await rm(workDir, {recursive: true, force: true});
}

/** A signing key for every artifact (its public half is the installs' verify.key) and a process runner. */
async function benchContext(dir: string, sizes: Sizes): Promise<BenchContext> {
  const key = generateTestKeyPair();
  const keyFile = join(dir, 'cosign.pub');
  await writeFile(keyFile, key.publicKeyPem);
  return {workDir: dir, sizes, runner: new Runner(dir), key, keyFile, progress: (message) => process.stderr.write(`bench: ${message}\n`)};
}

interface Options {
  quick: boolean;
  /** Measurement numbers to run (1–6); all when undefined. */
  only?: number[];
  /** A built checkout of parako that measurement 5 times too. */
  baseline?: string;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = {quick: false};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      opts.only = (value ?? '').split(',').map(Number);
      if (opts.only.some((n) => !Number.isInteger(n) || n < 1 || n > 6)) usage(`--only takes measurement numbers 1–6, got "${value}"`);
    } else if (arg === '--baseline') {
      opts.baseline = argv[++i];
      if (opts.baseline === undefined || !existsSync(join(opts.baseline, 'bin', 'run.js'))) usage(`--baseline takes a built checkout of parako (with bin/run.js), got "${opts.baseline ?? ''}"`);
    } else usage(`unknown argument ${arg}`);
  }
  return opts;
}

function usage(problem: string): never {
  process.stderr.write(`bench: ${problem}\nusage: tsx bench/run.ts [--quick] [--only 1,2,3,4,5,6] [--baseline <checkout>]\n       tsx bench/run.ts downtime [--quick] [--only pm2,compose,systemd] [--cycles N] [--json <file>]\n`);
  process.exit(2);
}

/** Full sizes when the temp dir's filesystem has room for them; otherwise the quick sizes, said out loud. */
async function chooseSizes(quick: boolean, dir: string): Promise<{sizes: Sizes; note?: string}> {
  const info = await statfs(dir);
  const free = info.bavail * info.bsize;
  if (free < QUICK_RUN_NEEDS) throw new Error(`only ${bytes(free)} free under ${tmpdir()}; the benchmark needs at least ${bytes(QUICK_RUN_NEEDS)} (set TMPDIR elsewhere)`);
  if (quick) return {sizes: QUICK};
  if (free >= FULL_RUN_NEEDS) return {sizes: FULL};
  return {
    sizes: {...QUICK, runs: FULL.runs, startupRuns: FULL.startupRuns},
    note: `**Scaled down:** only ${bytes(free)} free under ${tmpdir()} (the full run needs ${bytes(FULL_RUN_NEEDS)}), so the artifacts have the --quick sizes; the 1 GiB figures are not measured.`,
  };
}
