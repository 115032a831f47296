/**
 * Measurement 5: what staging costs per entry, and how soon a signal stops it. A release of
 * `stageEntries` entries of one kind (files, directories, symlinks, hardlinks) is installed
 * into a fresh dir by `parako update --no-restart`, and the stage phase is read off the log.
 * Every entry is checked against the symlinks stored before it, so a check that grew with
 * their number would show as symlinks costing far more than the rest. Then SIGTERM is sent
 * early in the stage phase of the files release (the time to stop) and a third of the way in
 * (stopping plus removing a third of the release), and the time to exit is taken.
 *
 * It runs on tmpfs (/dev/shm) when there is one: the work is CPU and syscalls, and a disk here
 * would add its own noise. With `--baseline <checkout>`, a built older checkout (say a git
 * worktree of the commit before) is timed on the same releases, round by round, except that
 * its symlinks are only `baselineSymlinks` (fewer: before, that check was quadratic), and on
 * the same SIGTERM. At most 3 runs each: a full run stages about 2.5 million entries.
 */
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, readdir, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';

import {cleanEnv, repoRoot} from '../test/fixtures/cli.js';
import {type FeedRelease, startFeedServer} from '../test/fixtures/feed-server.js';
import {buildEntriesRelease, type EntryKind, signFileWithKey} from './artifacts.js';
import {type BenchContext, freshInstallDir} from './context.js';
import {phaseSpans} from './phases.js';
import {type ResultRow, type Sample, bytes, sample, seconds, timeCells} from './table.js';

const KINDS: EntryKind[] = ['files', 'directories', 'symlinks', 'hardlinks'];

export interface StagingOptions {
  /** A built checkout of parako to time too (its bin/run.js). */
  baseline?: string;
}

export async function stagingByKind(ctx: BenchContext, opts: StagingOptions): Promise<ResultRow[]> {
  const onTmpfs = existsSync('/dev/shm');
  const dir = await mkdtemp(join(onTmpfs ? '/dev/shm' : ctx.workDir, 'parako-bench-staging-'));
  const where = onTmpfs ? 'tmpfs' : 'TMPDIR (no /dev/shm)';
  const count = ctx.sizes.stageEntries;
  const fewer = ctx.sizes.baselineSymlinks;
  try {
    ctx.progress(`staging: building releases of ${count} ${KINDS.join(', ')}, and of ${fewer} symlinks`);
    const releases = new Map<string, FeedRelease>();
    let patch = 0;
    for (const [kind, entries] of [...KINDS.map((k) => [k, count] as const), ['symlinks', fewer] as const]) {
      const built = await buildEntriesRelease(join(dir, 'feed'), {version: `5.0.${++patch}`, kind, count: entries});
      releases.set(`${kind} ${entries}`, {...built, bundleFile: await signFileWithKey(built.file, ctx.key)});
    }
    const feed = await startFeedServer({releases: [...releases.values()], root: join(dir, 'feed')});
    let installs = 0;
    /** One `parako update` of `release` into a fresh dir; SIGTERM after `signalAfterMs` in the stage phase, if given. */
    const update = async (program: string, release: FeedRelease, signalAfterMs?: number): Promise<StagingRun> => {
      const install = await freshInstallDir({...ctx, workDir: dir}, `install-${++installs}`, feed.indexUrl);
      const run = await runUpdate(program, ['update', '--version', release.version, '--no-restart', '--log-level', 'info', '--dir', install], signalAfterMs);
      const leftovers = (await readdir(join(install, 'releases')).catch(() => [])).filter((name) => name.startsWith('.staging-'));
      await rm(install, {recursive: true, force: true});
      if (signalAfterMs === undefined && run.code !== 0) throw new Error(`parako update exited ${run.code}:\n${run.stderr.slice(-2000)}`);
      if (signalAfterMs !== undefined && (run.code !== 1 || leftovers.length > 0)) {
        throw new Error(`after SIGTERM parako update exited ${run.code}${leftovers.length > 0 ? `, leaving ${leftovers.join(', ')}` : ''}:\n${run.stderr.slice(-2000)}`);
      }
      return run;
    };
    const parako = join(repoRoot, 'bin', 'run.js');
    const baseline = opts.baseline === undefined ? undefined : join(opts.baseline, 'bin', 'run.js');

    const stage = new Map<string, number[]>();
    const record = (key: string, ms: number): void => {
      stage.set(key, [...(stage.get(key) ?? []), ms]);
    };
    // Each round times every release with this checkout, then with the baseline, so drift hits both.
    const checkouts = [{name: 'new', program: parako, symlinks: [count, fewer]}];
    if (baseline !== undefined) checkouts.push({name: 'baseline', program: baseline, symlinks: [fewer]});
    const runs = Math.min(ctx.sizes.runs, 3);
    await update(parako, releases.get(`files ${count}`)!); // warm-up: page cache, Node's code cache
    for (let i = 0; i < runs; i++) {
      ctx.progress(`staging: round ${i + 1}/${runs}`);
      for (const checkout of checkouts) {
        for (const kind of KINDS) {
          for (const entries of kind === 'symlinks' ? checkout.symlinks : [count]) {
            record(`${checkout.name} ${kind} ${entries}`, (await update(checkout.program, releases.get(`${kind} ${entries}`)!)).stageMs!);
          }
        }
      }
    }
    const filesStage = sample(stage.get(`new files ${count}`)!);
    // Early, little is written and the time to exit is the time to stop; a third of the way in,
    // it includes removing a third of the release.
    const signalPoints = [Math.min(500, Math.round(filesStage.median / 10)), Math.round(filesStage.median / 3)];
    const toExit = new Map<string, number[]>();
    for (let i = 0; i < runs; i++) {
      for (const signalAfterMs of signalPoints) {
        ctx.progress(`staging: SIGTERM ${signalAfterMs} ms into the stage phase, round ${i + 1}/${runs}`);
        for (const checkout of checkouts) {
          const run = await update(checkout.program, releases.get(`files ${count}`)!, signalAfterMs);
          toExit.set(`${checkout.name} ${signalAfterMs}`, [...(toExit.get(`${checkout.name} ${signalAfterMs}`) ?? []), run.signalToExitMs!]);
        }
      }
    }
    await feed.close();

    const perEntry = (s: Sample, n: number): string => `${((1000 * s.median) / n).toFixed(0)} µs per entry`;
    const range = (s: Sample): string => `${seconds(s.median)} (${seconds(s.min)} – ${seconds(s.max)})`;
    const versus = (key: string): string => {
      const old = stage.get(`baseline ${key}`);
      return old === undefined ? '' : `; ${opts.baseline}: ${range(sample(old))}`;
    };
    const rows: ResultRow[] = [];
    for (const kind of KINDS) {
      for (const entries of kind === 'symlinks' ? [count, fewer] : [count]) {
        const s = sample(stage.get(`new ${kind} ${entries}`)!);
        rows.push({
          measurement: `5. stage phase of \`parako update --no-restart\`, ${entries.toLocaleString('en')} ${kind} (${where})`,
          metric: 'wall time of the phase',
          ...timeCells(s),
          compared: `${perEntry(s, entries)}${entries === count ? `; ${bytesOf(releases.get(`${kind} ${entries}`)!)}` : ''}${versus(`${kind} ${entries}`)}`,
        });
      }
    }
    for (const signalAfterMs of signalPoints) {
      const oldExit = toExit.get(`baseline ${signalAfterMs}`);
      rows.push({
        measurement: `5. SIGTERM ${seconds(signalAfterMs)} into the stage phase of ${count.toLocaleString('en')} files (${where})`,
        metric: 'signal to exit (exit 1, staging dir removed)',
        ...timeCells(sample(toExit.get(`new ${signalAfterMs}`)!)),
        compared: `the whole stage phase: ${seconds(filesStage.median)}${oldExit === undefined ? '' : `; ${opts.baseline}: ${range(sample(oldExit))}`}`,
      });
    }
    return rows;
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}

function bytesOf(release: FeedRelease): string {
  return `${bytes(release.size)} .tar.gz`;
}

interface StagingRun {
  code: number;
  stderr: string;
  /** The stage phase, from its `phase stage` line to the next phase line (undefined when signalled). */
  stageMs?: number;
  /** From SIGTERM to the process's exit. */
  signalToExitMs?: number;
}

/**
 * Runs `node <program> …args`. Unsignalled, the stage phase is read off the `phase` lines on
 * stderr; with `signalAfterMs`, SIGTERM goes that long after `phase stage` appears.
 */
async function runUpdate(program: string, args: string[], signalAfterMs?: number): Promise<StagingRun> {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [program, ...args], {env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe']});
  let stderr = '';
  let signalledAt: number | undefined;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (signalAfterMs !== undefined && signalledAt === undefined && /"msg":"phase stage"/.test(stderr)) {
      signalledAt = Number.NaN; // armed
      setTimeout(() => {
        signalledAt = performance.now();
        child.kill('SIGTERM');
      }, signalAfterMs);
    }
  });
  let closedAt = 0;
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => {
      closedAt = performance.now();
      resolve(exitCode ?? 128);
    });
  });
  const endedAt = Date.now();
  if (signalAfterMs !== undefined) {
    if (signalledAt === undefined || Number.isNaN(signalledAt)) throw new Error(`parako update ended before it was signalled (exit ${code}):\n${stderr.slice(-2000)}`);
    return {code, stderr, signalToExitMs: closedAt - signalledAt};
  }
  const spans = phaseSpans(stderr, startedAt, endedAt);
  return {code, stderr, stageMs: spans.find((span) => span.phase === 'stage')?.ms};
}
