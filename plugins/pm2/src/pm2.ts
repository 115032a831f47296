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
}

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

  /** The last lines of each of the app's log files, for a failure message. */
  async logs(app: string, lines = 20): Promise<string> {
    let result: Awaited<ReturnType<HookContext['exec']>>;
    try {
      result = await this.run(['logs', app, '--nostream', '--lines', String(lines)]);
    } catch (error) {
      // Only the failure message loses its excerpt; the failure itself is reported by the caller.
      return `(pm2 logs failed: ${error instanceof Error ? error.message : String(error)})`;
    }
    const excerpt = summarizeLogs(stripAnsi(result.stdout));
    // pm2 lists the files oldest first: with many instances, the end is what matters.
    return excerpt === '' ? '(the logs are empty)' : tail(excerpt, 2 * lines);
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
 * `pm2 logs --nostream` output made short: one heading per log file that has lines, each line
 * without pm2's "<app> | " prefix, and a crash loop's repeated line shown once (the last one,
 * with its timestamp when pm2 adds one) with a count.
 */
export function summarizeLogs(output: string): string {
  const summary: string[] = [];
  let previous: {line: string; key: string; times: number} | undefined;
  const flush = (): void => {
    if (previous !== undefined) summary.push(`  ${previous.line}${previous.times > 1 ? ` (${previous.times} times)` : ''}`);
    previous = undefined;
  };
  for (const raw of output.split('\n')) {
    if (raw.trim() === '' || raw.startsWith('[TAILING]')) continue;
    const heading = /^(\S.*) last \d+ lines:$/.exec(raw);
    if (heading !== null) {
      flush();
      summary.push(`${heading[1]}:`);
      continue;
    }
    // pm2 pads the app name to 10 characters, then " | "; `time: true` starts lines with a timestamp.
    const line = raw.replace(/^.{10} \| /, '');
    const key = line.replace(/^\d{4}-\d\d-\d\d[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?:?\s*/, '');
    if (previous?.key === key) {
      previous.times++;
      previous.line = line;
    } else {
      flush();
      previous = {line, key, times: 1};
    }
  }
  flush();
  // A heading with no lines under it says nothing.
  return summary.filter((line, i) => !(!line.startsWith('  ') && !(summary[i + 1] ?? '').startsWith('  '))).join('\n');
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
