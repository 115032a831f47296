/**
 * One measured run of a command: wall time from the parent (performance.now around spawn to
 * exit) and the child's peak resident set size. Peak RSS comes from GNU time (`/usr/bin/time
 * -v`, Debian package `time`), which reads the kernel's rusage of the child it waited for.
 * Without it, a Node child gets a preloaded exit hook that records process.resourceUsage().maxRSS
 * and any other command gets no RSS figure.
 */
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';

import {cleanEnv} from '../test/fixtures/cli.js';

const GNU_TIME = '/usr/bin/time';

export interface Run {
  /** Date.now() when the child was spawned, to line up with timestamps the child logs. */
  startedAt: number;
  endedAt: number;
  wallMs: number;
  /** Peak resident set size of the command's process, in MiB; undefined when it cannot be known. */
  peakRssMiB?: number;
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** How peak RSS is measured on this machine, for the report. */
export function rssMethod(): string {
  return existsSync(GNU_TIME) ? '`/usr/bin/time -v` (maximum resident set size of the child)' : 'process.resourceUsage().maxRSS at exit (Node commands only; GNU time is not installed)';
}

export class Runner {
  /** User + system CPU seconds of every measured child (GNU time only), to tell our load from others'. */
  childCpuSeconds = 0;
  private counter = 0;
  private readonly gnuTime = existsSync(GNU_TIME);

  /** `scratchDir` holds the small per-run report files. */
  constructor(private readonly scratchDir: string) {}

  /** Runs `command args…` to completion; throws when it exits nonzero unless `allowFailure`. */
  async run(command: string, args: string[], opts: RunOptions & {allowFailure?: boolean} = {}): Promise<Run> {
    const report = join(this.scratchDir, `rusage-${++this.counter}.txt`);
    const env = cleanEnv(opts.env);
    let argv: string[];
    if (this.gnuTime) {
      argv = [GNU_TIME, '-v', '-o', report, command, ...args];
    } else if (command === process.execPath) {
      const preload = await this.preload();
      argv = [command, '--require', preload, ...args];
      env.BENCH_RSS_FILE = report;
    } else {
      argv = [command, ...args];
    }

    const startedAt = Date.now();
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), {cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
    });
    const wallMs = performance.now() - start;
    const endedAt = Date.now();

    const peakRssMiB = await this.readReport(report);
    await rm(report, {force: true});
    if (code !== 0 && opts.allowFailure !== true) {
      throw new Error(`${[command, ...args].join(' ')} exited ${code}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`);
    }
    return {startedAt, endedAt, wallMs, peakRssMiB, code, stdout, stderr};
  }

  /**
   * Flushes what earlier runs (and their clean-up) left dirty, untimed, so one run's writeback
   * is not billed to the next. parako fsyncs its own files; `tar` leaves its to the kernel.
   */
  async settle(): Promise<void> {
    await this.run('sync', []);
  }

  /** The child's peak RSS in MiB from its report file; also adds its CPU time to childCpuSeconds. */
  private async readReport(report: string): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(report, 'utf8');
    } catch {
      return undefined; // no GNU time and not a Node command: nothing recorded it
    }
    // GNU time: "User time (seconds): 0.41", "Maximum resident set size (kbytes): 51234"; the preload writes the bare KiB.
    if (this.gnuTime) {
      const cpu = (label: string): number => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(text)?.[1] ?? 0);
      this.childCpuSeconds += cpu('User') + cpu('System');
    }
    const kib = Number(this.gnuTime ? /Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] : text.trim());
    return Number.isFinite(kib) && kib > 0 ? kib / 1024 : undefined;
  }

  private preloadFile?: string;
  private async preload(): Promise<string> {
    if (this.preloadFile !== undefined) return this.preloadFile;
    this.preloadFile = join(this.scratchDir, 'max-rss-preload.cjs');
    await writeFile(
      this.preloadFile,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));\n",
    );
    return this.preloadFile;
  }
}
