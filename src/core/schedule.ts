/**
 * `parako schedule`: unattended updates of one install dir on a systemd timer. `enable` writes
 * parako-update@<dir>.{service,timer} (schedule-units.ts) into /etc/systemd/system and starts
 * the timer; `disable` stops it and removes both; `status` says when it runs next, how the
 * last run ended, and what the history says. Everything goes through systemctl, journalctl
 * and systemd-analyze, the tools an operator would use by hand.
 */
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, rename, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {ConfigError, RefusedError, UsageError} from './errors.js';
import {type HistoryEntry, readHistory} from './history.js';
import type {Layout} from './layout.js';
import {shellQuote} from '../sdk/text.js';
import {renderUnits, type ScheduleSpec, type UnitNames, unitNames} from './schedule-units.js';

/** Where the units go; PARAKO_SYSTEMD_DIR moves them (tests, image builds). */
export const SYSTEMD_UNIT_DIR = '/etc/systemd/system';

export interface ScheduleEnv {
  unitDir: string;
  /** templates/systemd/ of this installation. */
  templateDir: string;
}

export interface ScheduleReport {
  dir: string;
  enabled: boolean;
  units: {service: string; timer: string};
  unitFiles: {service: string; timer: string};
  /** From the timer unit file as written: what `enable` set. */
  onCalendar: string | null;
  randomizedDelay: string | null;
  timer: {active: string; nextRun: string | null; lastTrigger: string | null} | null;
  /** The service's last run as systemd saw it, and the result parako printed (its --json line in the journal). */
  lastRun: {
    result: string;
    exitStatus: number | null;
    startedAt: string | null;
    endedAt: string | null;
    active: string;
    outcome: Record<string, unknown> | null;
  } | null;
  /** The last line of .parako/history.jsonl (an unattended run that changed nothing writes none). */
  lastHistory: HistoryEntry | null;
}

/** Writes the two units, reloads systemd and (re)starts the timer. */
export async function enableSchedule(env: ScheduleEnv, spec: ScheduleSpec): Promise<{names: UnitNames; nextRun: string | null}> {
  // The operator's input first: a bad --on-calendar is a usage error (2) on any host.
  const names = unitNames(spec.dir);
  const units = renderUnits(await readTemplates(env.templateDir), spec);
  await requireSystemd(spec.dir);
  await validateWithSystemd(spec);
  const files = unitFiles(env, names);
  await writeUnit(files.service, units.service);
  await writeUnit(files.timer, units.timer);
  await systemctl(['daemon-reload']);
  await refuseUnloadable(env, names);
  await systemctl(['enable', names.timer]);
  // restart, not start: a timer that was already running picks up a changed window now.
  await systemctl(['restart', names.timer]);
  const timer = await show(names.timer, ['NextElapseUSecRealtime']);
  return {names, nextRun: timestampOf(timer.NextElapseUSecRealtime)};
}

/** Stops and disables the timer, removes both units. A run in progress is left to finish. */
export async function disableSchedule(env: ScheduleEnv, dir: string): Promise<{names: UnitNames; removed: boolean}> {
  const names = unitNames(dir);
  await requireSystemd(dir);
  const files = unitFiles(env, names);
  if (!existsSync(files.timer) && !existsSync(files.service)) return {names, removed: false};
  await systemctl(['disable', '--now', names.timer], {allowFailure: true});
  await rm(files.timer, {force: true});
  await rm(files.service, {force: true});
  await systemctl(['daemon-reload']);
  // A last run that failed would otherwise stay listed by `systemctl --failed` for a unit that is gone.
  await systemctl(['reset-failed', names.service], {allowFailure: true});
  return {names, removed: true};
}

export async function scheduleStatus(env: ScheduleEnv, layout: Layout): Promise<ScheduleReport> {
  const names = unitNames(layout.dir);
  await requireSystemd(layout.dir);
  const files = unitFiles(env, names);
  const history = await readHistory(layout);
  const lastHistory = history.at(-1) ?? null;
  const timerText = await readOptional(files.timer);
  const report: ScheduleReport = {
    dir: layout.dir,
    enabled: false,
    units: {service: names.service, timer: names.timer},
    unitFiles: files,
    onCalendar: timerText === null ? null : settingOf(timerText, 'OnCalendar'),
    randomizedDelay: timerText === null ? null : settingOf(timerText, 'RandomizedDelaySec'),
    timer: null,
    lastRun: null,
    lastHistory,
  };
  if (timerText === null) return report;
  const timer = await show(names.timer, ['ActiveState', 'UnitFileState', 'NextElapseUSecRealtime', 'LastTriggerUSec']);
  report.enabled = timer.UnitFileState === 'enabled';
  report.timer = {active: timer.ActiveState ?? 'unknown', nextRun: timestampOf(timer.NextElapseUSecRealtime), lastTrigger: timestampOf(timer.LastTriggerUSec)};
  const service = await show(names.service, ['ActiveState', 'Result', 'ExecMainStatus', 'ExecMainStartTimestamp', 'ExecMainExitTimestamp', 'InvocationID']);
  const startedAt = timestampOf(service.ExecMainStartTimestamp);
  if (startedAt !== null) {
    report.lastRun = {
      result: service.Result ?? 'unknown',
      exitStatus: service.ExecMainStatus === undefined ? null : Number(service.ExecMainStatus),
      startedAt,
      endedAt: timestampOf(service.ExecMainExitTimestamp),
      active: service.ActiveState ?? 'unknown',
      outcome: service.InvocationID ? await resultOfRun(service.InvocationID) : null,
    };
  }
  return report;
}

/**
 * The commands an operator pastes to see a schedule, quoted: an escaped unit name's `\x2d`
 * loses its backslash in a shell when unquoted.
 */
export function journalctlCommand(unit: string): string {
  return `journalctl -u ${shellQuote(unit)}`;
}

export function scheduleStatusCommand(dir: string): string {
  return `parako schedule status --dir ${shellQuote(dir)}`;
}

// ---------------------------------------------------------------------------------------------

/** sd_booted(): systemd creates /run/systemd/system when it is PID 1. */
async function requireSystemd(dir: string): Promise<void> {
  if (!existsSync('/run/systemd/system')) {
    throw new RefusedError('systemd is not the init system of this host (PID 1; /run/systemd/system is missing), so parako schedule has no timer to install; nothing was changed', {
      next: `run parako update --unattended --json --dir ${shellQuote(dir)} from the scheduler this host has (a cron line), in your maintenance window (docs/operations.md#unattended-updates)`,
    });
  }
}

async function readTemplates(templateDir: string): Promise<{service: string; timer: string}> {
  const [service, timer] = await Promise.all([
    readFile(join(templateDir, 'parako-update.service'), 'utf8'),
    readFile(join(templateDir, 'parako-update.timer'), 'utf8'),
  ]);
  return {service, timer};
}

/**
 * systemd-analyze says whether the window and the delay mean something, with systemd's own
 * words, before anything is written. Where it is missing, the load check after daemon-reload
 * still catches a bad value.
 */
async function validateWithSystemd(spec: ScheduleSpec): Promise<void> {
  const calendar = await run('systemd-analyze', ['calendar', '--', spec.onCalendar]);
  if (calendar !== undefined && calendar.code !== 0) {
    throw new UsageError(`--on-calendar ${JSON.stringify(spec.onCalendar)} is not a valid systemd calendar expression: ${calendar.stderr.trim() || calendar.stdout.trim()}; nothing was changed`, {
      next: 'for example --on-calendar "Sun *-*-* 03:00"; systemd-analyze calendar "…" shows when an expression fires (man systemd.time)',
    });
  }
  const delay = await run('systemd-analyze', ['timespan', '--', spec.randomizedDelay]);
  if (delay !== undefined && delay.code !== 0) {
    throw new UsageError(`--randomized-delay ${JSON.stringify(spec.randomizedDelay)} is not a valid systemd time span: ${delay.stderr.trim() || delay.stdout.trim()}; nothing was changed`, {
      next: 'give seconds (1800) or a span such as 30m or "1h 30min" (man systemd.time)',
    });
  }
}

/** After daemon-reload: both units must have loaded, or they are removed again and systemd's complaint is shown. */
async function refuseUnloadable(env: ScheduleEnv, names: UnitNames): Promise<void> {
  const broken: Array<{unit: string; props: Record<string, string>}> = [];
  for (const unit of [names.service, names.timer]) {
    const props = await show(unit, ['LoadState', 'LoadError']);
    if (props.LoadState !== 'loaded') broken.push({unit, props});
  }
  if (broken.length === 0) return;
  const files = unitFiles(env, names);
  await rm(files.timer, {force: true});
  await rm(files.service, {force: true});
  await systemctl(['daemon-reload']);
  throw new ConfigError(`systemd did not load ${broken.map(({unit, props}) => `${unit} (LoadState=${props.LoadState}${props.LoadError ? `, ${props.LoadError}` : ''})`).join(' and ')}; the unit files were removed again, nothing is scheduled`, {
    next: `journalctl -b -u ${shellQuote(names.timer)} -u ${shellQuote(names.service)} --no-pager | tail shows why; fix the option it names and run parako schedule enable again`,
  });
}

function unitFiles(env: ScheduleEnv, names: UnitNames): {service: string; timer: string} {
  return {service: join(env.unitDir, names.service), timer: join(env.unitDir, names.timer)};
}

/** A unit file appears whole or not at all: systemd may reload at any moment. */
async function writeUnit(path: string, text: string): Promise<void> {
  const draft = `${path}.parako-${process.pid}`;
  await writeFile(draft, text, {mode: 0o644});
  await rename(draft, path);
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The value of `Key=` in a unit file as parako wrote it (one line each, no continuations). */
function settingOf(unitText: string, key: string): string | null {
  const line = unitText.split('\n').find((l) => l.startsWith(`${key}=`));
  return line === undefined ? null : line.slice(key.length + 1);
}

/** The --json result line of one run of the service, from the journal (null if it printed none). */
async function resultOfRun(invocationId: string): Promise<Record<string, unknown> | null> {
  if (!/^[0-9a-f]{32}$/.test(invocationId)) return null;
  const journal = await run('journalctl', [`_SYSTEMD_INVOCATION_ID=${invocationId}`, '-o', 'cat', '--no-pager']);
  if (journal === undefined || journal.code !== 0) return null;
  for (const line of journal.stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      // parako's result, not one of its pino log lines (which have a level and no outcome).
      if (typeof parsed.code === 'number' && typeof parsed.outcome === 'string') return parsed;
    } catch {
      // A line that starts with { but is not JSON: something else the run printed.
    }
  }
  return null;
}

/** `systemctl show -p …` as a map, timestamps in UTC. */
async function show(unit: string, properties: string[]): Promise<Record<string, string>> {
  const out = await systemctl(['show', '--timestamp=utc', ...properties.flatMap((p) => ['-p', p]), unit]);
  return Object.fromEntries(
    out
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** `Thu 2026-12-03 03:00:00 UTC` → ISO; `n/a`, empty or 0 → null. */
export function timestampOf(value: string | undefined): string | null {
  const match = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC/.exec(value ?? '');
  return match === null ? null : new Date(`${match[1]}T${match[2]}Z`).toISOString();
}

async function systemctl(args: string[], opts: {allowFailure?: boolean} = {}): Promise<string> {
  const result = await run('systemctl', args);
  if (result === undefined) {
    throw new RefusedError('systemctl is not installed on this host, so parako schedule cannot manage a timer; nothing was changed', {
      next: 'run parako update --unattended --json --dir <install dir> from the scheduler this host has (a cron line) (docs/operations.md#unattended-updates)',
    });
  }
  if (result.code !== 0 && opts.allowFailure !== true) {
    throw new RefusedError(`systemctl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`, {
      next: 'journalctl -xe shows what systemd said; then run the parako schedule command again',
    });
  }
  return result.stdout;
}

/** Runs a program; undefined when it is not installed. */
function run(program: string, args: string[]): Promise<{code: number; stdout: string; stderr: string} | undefined> {
  return new Promise((resolve, reject) => {
    execFile(program, args, {encoding: 'utf8', timeout: 120_000, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      if (error === null) return resolve({code: 0, stdout, stderr});
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve(undefined);
      if (typeof error.code === 'number') return resolve({code: error.code, stdout, stderr});
      reject(error);
    });
  });
}
