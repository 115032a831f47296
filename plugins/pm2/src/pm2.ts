/**
 * The one tool this plugin drives: the pm2 CLI, run as the user that owns the apps with that
 * user's PM2_HOME. pm2 is per user (each user has its own daemon under ~/.pm2), so running it
 * as root with another user's PM2_HOME would start a second, root-owned daemon there.
 */
import {constants} from 'node:fs';
import {access} from 'node:fs/promises';
import {delimiter, join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

import type {HookContext} from 'parako';

import type {Pm2Settings} from './settings.js';

/** One process of an app, as `pm2 jlist` reports it. */
export interface Pm2Instance {
  name: string;
  /** pm2's id of the instance (0, 1, …): stable across reloads. */
  id: number;
  /** 0 when the process is not running. */
  pid: number;
  /** online, launching, stopping, stopped, errored, waiting restart, one-launch-status */
  status: string;
  /** How many times pm2 restarted it since it was started (reloads count too). */
  restarts: number;
  /** The files pm2 writes its stdout and stderr to (pm_out_log_path, pm_err_log_path). */
  logFiles: string[];
}

/** Each log file of an app and its size before the restart: what follows is this start's. */
export type LogMarks = Map<string, number>;

/** How much of a log file's new part is read at most: the excerpt is its end anyway. */
export const READ_BYTES = 65536;
export const EXCERPT_LINES = 20;

export class Pm2 {
  private constructor(
    private readonly ctx: HookContext,
    private readonly binary: string,
    readonly runAs: string | undefined,
    /** undefined: pm2's own default (PM2_HOME of parako's environment, else ~/.pm2). */
    readonly home: string | undefined,
  ) {}

  /** pm2 from PATH, driven as `supervisor.runAs` with `supervisor.home` (else that user's ~/.pm2). */
  static async connect(ctx: HookContext, settings: Pm2Settings): Promise<Pm2> {
    const binary = await findOnPath('pm2');
    if (binary === undefined) {
      throw new Error(`pm2 is not on parako's PATH (${process.env.PATH ?? ''}); install it (npm install -g pm2) or add its directory to PATH in the environment that runs parako`);
    }
    const home = settings.home ?? (settings.runAs === undefined ? undefined : join(await homeOf(ctx, settings.runAs), '.pm2'));
    return new Pm2(ctx, binary, settings.runAs, home);
  }

  /** "pm2 (as parako, PM2_HOME /home/parako/.pm2)": which daemon a message is about. */
  describe(): string {
    const parts = [this.runAs === undefined ? undefined : `as ${this.runAs}`, this.home === undefined ? undefined : `PM2_HOME ${this.home}`].filter(Boolean);
    return parts.length === 0 ? 'pm2' : `pm2 (${parts.join(', ')})`;
  }

  /** Every process the daemon knows, from `pm2 jlist`. */
  async list(): Promise<Pm2Instance[]> {
    const result = await this.run(['jlist']);
    if (result.code !== 0) throw new Error(`${this.describe()} jlist exited with code ${result.code}: ${tail(stripAnsi(result.stderr), 5)}`);
    return parseJlist(result.stdout);
  }

  /**
   * `pm2 reload <app>` or `pm2 restart <app>`; throws when pm2 reports a failure. pm2 refuses
   * an action that races its own restart of a crashing process ("Process with pid … already
   * exists") or a reload still finishing ("retry later"), as when rolling back from a release
   * that crash-loops; so a failed action is tried again a few times before it counts.
   */
  async apply(action: 'reload' | 'restart', app: string, retryDelayMs: number, attempts = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.run([action, app]);
      if (result.code === 0) return;
      const said = tail(stripAnsi(result.stderr || result.stdout), 10);
      if (attempt >= attempts) throw new Error(`${this.describe()} ${action} ${app} exited with code ${result.code} (${count(attempt, 'attempt')}): ${said}`);
      this.ctx.log.warn({app, action, attempt, code: result.code, output: said}, `pm2 ${action} failed; trying again`);
      await sleep(retryDelayMs, undefined, {signal: this.ctx.signal});
    }
  }

  /**
   * The size of each log file before the restart. pm2 cannot show a log from an offset (`pm2
   * logs --lines` is the last lines, whatever their age), so parako reads the files pm2 names.
   * A file that cannot be measured (not written yet) counts as empty: all it will hold is new.
   */
  async markLogs(files: string[]): Promise<LogMarks> {
    const marks: LogMarks = new Map();
    for (const file of new Set(files)) {
      const size = await this.sizeOf(file);
      marks.set(file, size ?? 0);
    }
    return marks;
  }

  /**
   * What the app wrote to its log files since the restart, at most EXCERPT_LINES lines per file,
   * for a failure message. Never throws: the failure itself is reported by the caller.
   */
  async logsSince(marks: LogMarks, restartedAt: Date): Promise<string> {
    const since = `since the restart at ${clock(restartedAt)}`;
    const blocks: string[][] = [];
    const notes: string[] = [];
    for (const [file, offset] of marks) {
      try {
        const size = await this.sizeOf(file);
        if (size === undefined) throw new Error('it is gone');
        // Smaller than before: pm2 flush or pm2-logrotate emptied it after the restart, so all it holds is new.
        const rotated = size < offset;
        const from = Math.max(rotated ? 0 : offset, size - READ_BYTES);
        const read = await this.tool('tail', ['-c', `+${from + 1}`, '--', file]);
        if (read.code !== 0) throw new Error(read.stderr.trim() || `tail exited ${read.code}`);
        // A read that starts inside the new part starts inside a line.
        const text = from > (rotated ? 0 : offset) ? read.stdout.slice(read.stdout.indexOf('\n') + 1) : read.stdout;
        const lines = collapseRepeats(stripAnsi(text).split('\n').filter((line) => line.trim() !== '')).slice(-EXCERPT_LINES);
        if (rotated) notes.push(`${file} was emptied (pm2 flush, or rotated) after the restart: what it held before that is not shown`);
        if (lines.length > 0) blocks.push([`${file}:`, ...lines.map((line) => `  ${line}`)]);
      } catch (error) {
        notes.push(`${file} could not be read: ${(error as Error).message}`);
      }
    }
    // At most two full files' worth (an app's stdout and stderr); with many instances, the
    // files listed last fill it, each whole.
    const parts: string[] = [];
    let left = blocks.length;
    while (left > 0 && (parts.length === 0 || parts.length + blocks[left - 1]!.length <= 2 * (EXCERPT_LINES + 1))) parts.unshift(...blocks[--left]!);
    if (left > 0) notes.unshift(`${count(left, 'more log file')} with lines since the restart not shown: ${blocks.slice(0, left).map((block) => block[0]!.slice(0, -1)).join(', ')}`);
    const files = [...marks.keys()].join(', ');
    const heading = parts.length === 0 ? `no log lines ${since} (in ${files || 'no log file pm2 names'})` : `log lines ${since} (read from where pm2's log files ended before it):`;
    return [heading, ...parts, ...notes.map((note) => `(${note})`)].join('\n');
  }

  /** A file's size in bytes, measured as the apps' user: the path is theirs to choose. */
  private async sizeOf(file: string): Promise<number | undefined> {
    const result = await this.tool('stat', ['-L', '-c', '%s', '--', file]);
    const size = Number(result.stdout.trim());
    return result.code === 0 && result.stdout.trim() !== '' && Number.isSafeInteger(size) ? size : undefined;
  }

  /**
   * stat and tail on the log files run as the apps' user, like pm2: the paths come from the
   * apps' own config, and parako (root) must not read for them a file they could not read.
   */
  private tool(command: 'stat' | 'tail', args: string[]): ReturnType<HookContext['exec']> {
    return this.ctx.exec(command, args, {runAs: this.runAs, cwd: '/'});
  }

  private run(args: string[]): ReturnType<HookContext['exec']> {
    // cwd "/": parako's own working directory may not be readable by the apps' user.
    return this.ctx.exec(this.binary, args, {runAs: this.runAs, cwd: '/', env: this.home === undefined ? {} : {PM2_HOME: this.home}});
  }
}

/**
 * The processes in `pm2 jlist` output. pm2 may print other lines before the JSON (a daemon
 * being spawned, an in-memory version warning), so the JSON array is looked for line by line.
 * The raw output is never logged or shown: pm2_env holds each app's whole environment.
 */
export function parseJlist(output: string): Pm2Instance[] {
  // pm2 prints the list as one line; a list spread over lines is tried whole as the fallback.
  const start = output.search(/^\[\s*[{\]]/m);
  const candidates = [...output.split('\n').reverse(), ...(start === -1 ? [] : [output.slice(start)])];
  for (const candidate of candidates) {
    const text = candidate.trim();
    if (!text.startsWith('[')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue; // a line starting with "[" that is not the list, e.g. "[PM2] Spawning PM2 daemon"
    }
    if (Array.isArray(parsed)) return parsed.map(toInstance);
  }
  // Only what comes before any JSON object: a truncated list would show apps' environments.
  const excerpt = stripAnsi(output.split('{')[0] ?? '').replaceAll(/\s+/g, ' ').trim().slice(0, 200);
  throw new Error(`pm2 jlist printed no readable process list (${output.length} bytes, starting "${excerpt}")`);
}

function toInstance(entry: unknown): Pm2Instance {
  const item = (entry ?? {}) as {name?: unknown; pid?: unknown; pm_id?: unknown; pm2_env?: Record<string, unknown>};
  const env = item.pm2_env ?? {};
  return {
    name: String(item.name ?? env.name ?? ''),
    // pm2 renames an instance being replaced by a reload to "_old_<id>"; NaN marks those.
    id: typeof item.pm_id === 'number' ? item.pm_id : Number.NaN,
    pid: typeof item.pid === 'number' ? item.pid : 0,
    status: typeof env.status === 'string' ? env.status : 'unknown',
    restarts: typeof env.restart_time === 'number' ? env.restart_time : 0,
    logFiles: [env.pm_out_log_path, env.pm_err_log_path].filter((path): path is string => typeof path === 'string' && path !== ''),
  };
}

async function findOnPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory: try the next one, as a shell would.
    }
  }
  return undefined;
}

/** The home directory of a system user, from the system's user database. */
async function homeOf(ctx: HookContext, user: string): Promise<string> {
  const result = await ctx.exec('getent', ['passwd', user]);
  const home = result.stdout.trim().split(':')[5];
  if (result.code !== 0 || home === undefined || home === '') {
    throw new Error(`no system user named "${user}" (supervisor.runAs); getent passwd ${user} found nothing`);
  }
  return home;
}

/**
 * A crash loop's repeated line shown once (the last one, with its timestamp when pm2 adds
 * one) with a count, so an excerpt of 20 lines shows more than one line 20 times.
 */
export function collapseRepeats(lines: string[]): string[] {
  const collapsed: Array<{line: string; key: string; times: number}> = [];
  for (const line of lines) {
    // `time: true` (or log_date_format) starts each line with a timestamp.
    const key = line.replace(/^\d{4}-\d\d-\d\d[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?:?\s*/, '');
    const previous = collapsed.at(-1);
    if (previous?.key === key) {
      previous.times++;
      previous.line = line;
    } else {
      collapsed.push({line, key, times: 1});
    }
  }
  return collapsed.map(({line, times}) => `${line}${times > 1 ? ` (${times} times)` : ''}`);
}

/** `03:00:12`, in the host's time zone. */
export function clock(at: Date): string {
  return at.toTimeString().slice(0, 8);
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex -- ANSI colour codes are control sequences
  return text.replaceAll(/\u001B\[[0-9;]*[A-Za-z]/g, '');
}

export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
