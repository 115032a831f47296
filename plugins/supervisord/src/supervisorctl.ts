/**
 * The one tool this plugin drives: supervisorctl, talking to the supervisord that
 * `supervisor.configFile` / `serverUrl` lead to. Its exit codes say little (`status` exits 3
 * when any program is not running, 0 for one in BACKOFF; `stop` of a stopped program exits 0
 * with an ERROR line), so what it printed is what counts.
 */
import {resolve} from 'node:path';

import {type HookContext, outputTail, PluginError, shellQuote} from 'parako';

import type {SupervisordSettings} from './provides.js';

/** One process as `supervisorctl status` shows it. */
export interface ProgramStatus {
  /** As supervisorctl names it: `web`, or `group:web` for a program in a group. */
  name: string;
  /** STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL or UNKNOWN. */
  state: string;
  /** While it runs. */
  pid?: number;
  /** The rest of the line: `pid 123, uptime 0:00:02`, `Exited too quickly (process log may have details)`. */
  description: string;
}

/** A `name: ERROR (why)` line: a name supervisord does not know, or an action it refused. */
export interface ProgramError {
  name: string;
  error: string;
}

export interface StatusReport {
  programs: ProgramStatus[];
  errors: ProgramError[];
}

/** The lines of `supervisorctl status` and the ERROR lines it prints for names it does not know. */
export function parseStatus(output: string): StatusReport {
  const programs: ProgramStatus[] = [];
  for (const line of output.split('\n')) {
    // "web                              RUNNING   pid 123, uptime 0:00:02"; the name column widens for long names.
    const match = /^(\S+)\s+([A-Z]+)(?:\s+(.*))?$/.exec(line.trimEnd());
    if (match === null || match[1]!.endsWith(':')) continue;
    const description = (match[3] ?? '').trim();
    const pid = /\bpid (\d+)/.exec(description)?.[1];
    programs.push({name: match[1]!, state: match[2]!, ...(pid === undefined ? {} : {pid: Number(pid)}), description});
  }
  return {programs, errors: parseErrors(output)};
}

/** `web: ERROR (spawn error)`, `grp: ERROR (no such group)`. */
export function parseErrors(output: string): ProgramError[] {
  return [...output.matchAll(/^(\S+): ERROR \((.*)\)\s*$/gm)].map((match) => ({name: match[1]!, error: match[2]!}));
}

const STREAMS = ['stderr', 'stdout'] as const;
/** How much of each log's end is kept before the restart to find it again afterwards. */
export const MARK_BYTES = 4096;
/** How much of each log's end is read after a failure: this start's lines are in there. */
export const READ_BYTES = 65536;
export const EXCERPT_LINES = 20;

/** Each log's last bytes before the restart; '' when it had none, missing when they could not be read. */
export type LogMarks = Partial<Record<(typeof STREAMS)[number], string>>;

/** What `supervisorctl tail` printed, without the newline it adds after the log's bytes. */
function printed(stdout: string): string {
  return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
}

/**
 * The mark kept from a log's last MARK_BYTES: when the read was cut, its first line may start
 * inside a character (decoded differently by the later read) and is dropped.
 */
export function markOf(end: string): string {
  if (Buffer.byteLength(end) < MARK_BYTES) return end;
  const newline = end.indexOf('\n');
  return newline === -1 || newline === end.length - 1 ? end : end.slice(newline + 1);
}

/**
 * What a log holds after `mark`, the text it ended with before the restart. The last place the
 * mark occurs is taken: a start that repeats the old lines exactly shows fewer of them, never
 * older ones. Not found (rotated, truncated, or more new bytes than were read): the whole read,
 * with `known: false`.
 */
export function linesAfter(log: string, mark: string | undefined): {text: string; known: boolean} {
  if (mark === '') return {text: log, known: true};
  const at = mark === undefined ? -1 : log.lastIndexOf(mark);
  if (at === -1) return {text: log, known: false};
  return {text: log.slice(at + mark!.length), known: true};
}

/** `03:00:12`, in the host's time zone. */
export function clock(at: Date): string {
  return at.toTimeString().slice(0, 8);
}

/** `-c <file> -s <url>`: which supervisord; none means supervisorctl's own lookup. */
function connection(settings: SupervisordSettings, dir: string): string[] {
  return [...(settings.configFile === undefined ? [] : ['-c', resolve(dir, settings.configFile)]), ...(settings.serverUrl === undefined ? [] : ['-s', settings.serverUrl])];
}

/** The command an operator pastes: `supervisorctl -c /etc/supervisor/supervisord.conf restart web`. */
export function commandLine(settings: SupervisordSettings, dir: string, args: string[]): string {
  return ['supervisorctl', ...connection(settings, dir), ...args].map(shellQuote).join(' ');
}

export class Supervisorctl {
  private readonly connection: string[];

  constructor(
    private readonly ctx: HookContext,
    private readonly settings: SupervisordSettings,
  ) {
    this.connection = connection(settings, ctx.dir);
  }

  /** `supervisorctl -c … <args>`, as a message shows it. */
  line(args: string[]): string {
    return commandLine(this.settings, this.ctx.dir, args);
  }

  /**
   * The status of every configured program. A name supervisord does not know stops here,
   * before anything is restarted: a typo in parako.json must not read as a crash.
   */
  async statusOf(programs: string[]): Promise<ProgramStatus[]> {
    const report = await this.status(programs);
    if (report.errors.length > 0) {
      const named = (kind: string, names: string[]): string[] => (names.length === 0 ? [] : [`${kind} ${names.join(', ')}`]);
      const groups = report.errors.filter((error) => error.error === 'no such group').map((error) => error.name);
      const others = report.errors.filter((error) => error.error !== 'no such group').map((error) => error.name);
      const unknown = [...named('program', others), ...named('group', groups)].join(' and no ');
      const runs = (await this.status([])).programs.map((program) => program.name);
      const listed = runs.length === 0 ? 'nothing' : runs.length > 20 ? `${runs.slice(0, 20).join(', ')}, …` : runs.join(', ');
      throw new PluginError(
        `supervisord has no ${unknown}; supervisor.programs must name programs from its config (it runs ${listed})`,
        {next: `fix supervisor.programs in parako.json, or add the program to supervisord's config (then supervisorctl reread, supervisorctl update); ${this.line(['status'])} lists what it runs`},
      );
    }
    return report.programs;
  }

  /** `supervisorctl status <names>` (every program without names). */
  async status(names: string[]): Promise<StatusReport> {
    const result = await this.run(['status', ...names]);
    const report = parseStatus(result.stdout);
    const readable = report.programs.length > 0 || report.errors.length > 0 || (result.code === 0 && result.stdout.trim() === '');
    if (!readable) {
      // Not one status line: supervisord is not running, or supervisorctl talks to another one.
      const said = `${result.stdout}${result.stderr}`.trim();
      throw new PluginError(`${this.line(['status', ...names])} failed (exit ${result.code}): ${said === '' ? 'no output' : said}`, {
        next: 'check that supervisord is running (systemctl status supervisor) and that supervisor.configFile or supervisor.serverUrl in parako.json lead to it',
      });
    }
    return report;
  }

  /**
   * `supervisorctl restart <programs>`: stop, then start (which waits `startsecs` for each).
   * Returns the ERROR lines that matter; "not running" is a stop of a program that had
   * already stopped (a crashed release being rolled back), and the start goes on regardless.
   */
  async restart(programs: string[]): Promise<ProgramError[]> {
    const result = await this.run(['restart', ...programs]);
    const errors = parseErrors(result.stdout).filter((error) => error.error !== 'not running');
    if (result.code !== 0 && errors.length === 0) {
      // No ERROR line to go by (supervisord went away mid-restart, say): what it printed is all there is.
      return [{name: programs.join(' '), error: `exit ${result.code}: ${`${result.stdout}${result.stderr}`.trim()}`}];
    }
    return errors;
  }

  /**
   * The end of each of the program's logs before the restart: what comes after it in the log
   * is what this start wrote. supervisorctl can read only the last bytes of a log, not say how
   * long it is, so the end's text is the mark. Never throws: without a mark, the excerpt says
   * it cannot tell this start's lines from older ones.
   */
  async markLogs(name: string): Promise<LogMarks> {
    const marks: LogMarks = {};
    for (const stream of STREAMS) {
      try {
        const result = await this.run(['tail', `-${MARK_BYTES}`, name, stream]);
        // No log file yet, or none at all (redirect_stderr): nothing before this start.
        if (result.code !== 0 && /ERROR \(no log file\)/.test(result.stdout)) marks[stream] = '';
        else if (result.code === 0) marks[stream] = markOf(printed(result.stdout));
      } catch (error) {
        if (this.ctx.signal.aborted) throw error;
        // Left without a mark: the excerpt then says it cannot tell this start's lines apart.
      }
    }
    return marks;
  }

  /**
   * What the program wrote since the restart (its stderr log, else its stdout log), at most
   * EXCERPT_LINES lines, for a failure message. Never throws: it only adds detail.
   */
  async logExcerpt(name: string, marks: LogMarks, restartedAt: Date): Promise<string> {
    const since = `since the restart at ${clock(restartedAt)}`;
    try {
      for (const stream of STREAMS) {
        const args = ['tail', `-${READ_BYTES}`, name, stream];
        const result = await this.run(args);
        if (result.code !== 0) continue;
        const fresh = linesAfter(printed(result.stdout), marks[stream]);
        if (fresh.text.trim() === '') continue;
        const heading = fresh.known
          ? `log lines ${since} (${this.line(args)}, after what it held before the restart)`
          : `last log lines of ${this.line(args)} (parako cannot tell which of them this start wrote: the log was rotated or truncated, or this start wrote more than ${READ_BYTES / 1024} KiB)`;
        return `${heading}${outputTail(fresh.text, [], EXCERPT_LINES)}`;
      }
      return `no log lines ${since} (${this.line(['tail', name, 'stderr'])}, and stdout)`;
    } catch (error) {
      // The failure itself is reported in full by the caller.
      return `its log could not be read: ${(error as Error).message}`;
    }
  }

  private async run(args: string[]): ReturnType<HookContext['exec']> {
    try {
      // cwd "/": without -c, supervisorctl also looks for ./supervisord.conf, which must not
      // depend on where parako was started.
      return await this.ctx.exec('supervisorctl', [...this.connection, ...args], {cwd: '/'});
    } catch (error) {
      if (this.ctx.signal.aborted) throw error;
      throw new PluginError(`supervisorctl could not run: ${(error as Error).message}`, {
        next: "install supervisor (apt-get install supervisor), or put supervisorctl on the PATH of the environment that runs parako",
      });
    }
  }
}
