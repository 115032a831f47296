/**
 * The two unit files of `parako schedule` as text: their names (the install dir as
 * `systemd-escape --path` spells it) and the templates under templates/systemd/ filled in.
 * Pure functions: every value that reaches a unit file passes through here, so this is where
 * a path or an option is kept from adding a line, a word, a `%` specifier or a `$` variable.
 */
import {isAbsolute, normalize} from 'node:path';

import {ConfigError, UsageError} from './errors.js';

/** Both units share this prefix; `@<instance>` names the install dir. */
export const UNIT_PREFIX = 'parako-update';
export const DEFAULT_ON_CALENDAR = '*-*-* 03:00';

/** What one schedule needs to be written. */
export interface ScheduleSpec {
  /** The install dir, absolute. */
  dir: string;
  /** The program and its first arguments that run parako here: node and bin/run.js. */
  parako: string[];
  onCalendar: string;
  /** A systemd time span (`30m`, `1h 30min`, `90`); `0` for none. */
  randomizedDelay: string;
}

export interface UnitNames {
  instance: string;
  service: string;
  timer: string;
}

/** systemd's longest unit name (UNIT_NAME_MAX less the NUL). */
const UNIT_NAME_MAX = 255;

/** The unit names of an install dir: `parako-update@opt-parako\x2did.{service,timer}` for /opt/parako-id. */
export function unitNames(dir: string): UnitNames {
  const instance = escapePath(dir);
  const names = {instance, service: `${UNIT_PREFIX}@${instance}.service`, timer: `${UNIT_PREFIX}@${instance}.timer`};
  if (names.service.length > UNIT_NAME_MAX) {
    throw new ConfigError(`the install dir ${JSON.stringify(dir)} is too long for a systemd unit name (${names.service.length} characters, at most ${UNIT_NAME_MAX})`, {
      next: 'use a shorter install dir path (or a symlink to it) with --dir',
    });
  }
  return names;
}

/**
 * `systemd-escape --path`: the path without its outer slashes, `/` as `-`, and every byte
 * other than [A-Za-z0-9:_.] (and a leading `.`) as `\xNN`; the root is `-`. Like systemd, a
 * path with `.` or `..` components is refused rather than guessed at.
 */
export function escapePath(path: string): string {
  if (!isAbsolute(path)) throw new UsageError(`the install dir must be an absolute path, not ${JSON.stringify(path)}`);
  refuseControlCharacters('the install dir', path);
  const trimmed = path.replace(/\/{2,}/g, '/').replace(/^\/|\/$/g, '');
  if (trimmed === '') return '-';
  if (trimmed.split('/').some((part) => part === '.' || part === '..')) {
    throw new UsageError(`the install dir ${JSON.stringify(path)} has . or .. in it; give it as ${normalize(path)}`);
  }
  let escaped = '';
  for (const [index, byte] of [...Buffer.from(trimmed, 'utf8')].entries()) {
    const char = String.fromCharCode(byte);
    if (char === '/') escaped += '-';
    else if (/[A-Za-z0-9:_]/.test(char) || (char === '.' && index > 0)) escaped += char;
    else escaped += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return escaped;
}

/**
 * One word of ExecStart=: double-quoted, so a space does not split it; `\` and `"` escaped for
 * the unquoting, `%` doubled against specifier expansion, `$` doubled against variable expansion.
 */
export function execWord(word: string): string {
  refuseControlCharacters('an ExecStart= argument', word);
  return `"${word.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** One path of ReadWritePaths=: quoted like execWord, but that setting expands no `$`. */
export function pathWord(path: string): string {
  refuseControlCharacters('a path', path);
  return `"${path.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%')}"`;
}

/**
 * The characters systemd calendar expressions are written with (`Sun *-*-* 03:00`,
 * `Mon..Fri 02:30 Europe/Berlin`, `*:0/15`, `weekly`): nothing that could quote, escape,
 * expand or end the line. Whether the expression means something is systemd's to say.
 */
const CALENDAR_CHARACTERS = /^[A-Za-z0-9 *,:.~/+_-]+$/;
/** Time spans: `30m`, `1h 30min`, `90`, `0`. */
const TIMESPAN_CHARACTERS = /^[A-Za-z0-9 .]+$/;

export function checkOnCalendar(spec: string): string {
  const trimmed = spec.trim();
  if (trimmed === '' || !CALENDAR_CHARACTERS.test(trimmed)) {
    throw new UsageError(`--on-calendar ${JSON.stringify(spec)} is not a systemd calendar expression: it may use letters, digits, spaces and * , : . ~ / + _ - only`, {
      next: 'for example --on-calendar "Sun *-*-* 03:00" (see man systemd.time, or test one with systemd-analyze calendar "…")',
    });
  }
  return trimmed;
}

export function checkTimespan(span: string): string {
  const trimmed = span.trim();
  if (trimmed === '' || !TIMESPAN_CHARACTERS.test(trimmed)) {
    throw new UsageError(`--randomized-delay ${JSON.stringify(span)} is not a time span: give seconds (1800) or a span such as 30m or "1h 30min"`, {
      next: 'see man systemd.time, or test one with systemd-analyze timespan "…"',
    });
  }
  return trimmed;
}

function refuseControlCharacters(what: string, value: string): void {
  // A newline would start a new directive in the unit file; no other control character has a
  // meaning there that an operator could want.
  if (/[\x00-\x1f\x7f]/.test(value)) throw new UsageError(`${what} must not contain control characters (newline, tab, …): ${JSON.stringify(value)}`);
}

/** The unit texts for `spec`, from the template texts (templates/systemd/parako-update.{service,timer}). */
export function renderUnits(templates: {service: string; timer: string}, spec: ScheduleSpec): {service: string; timer: string} {
  const values: Record<string, string> = {
    execStart: [...spec.parako, 'update', '--unattended', '--json', '--dir', spec.dir].map(execWord).join(' '),
    readWritePaths: pathWord(`-${spec.dir}`),
    onCalendar: checkOnCalendar(spec.onCalendar),
    randomizedDelay: checkTimespan(spec.randomizedDelay),
  };
  return {service: fill(templates.service, values), timer: fill(templates.timer, values)};
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (placeholder, name: string) => {
    const value = values[name];
    // A template names a value parako does not have: a packaging mistake, not an operator's.
    if (value === undefined) throw new Error(`templates/systemd names ${placeholder}, which parako schedule does not fill in`);
    return value;
  });
}
