/**
 * The unit files of `parako schedule` as text: names as systemd-escape spells them, every value
 * quoted so that a path or an option can neither add a directive nor split, expand or escape
 * a word. The real systemd reads the same files in test/integration/schedule.test.ts.
 */
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {UsageError} from '../../src/core/errors.js';
import {checkOnCalendar, checkTimespan, escapePath, execWord, pathWord, renderUnits, type ScheduleSpec, unitNames} from '../../src/core/schedule-units.js';
import {timestampOf} from '../../src/core/schedule.js';
import {repoRoot} from '../fixtures/cli.js';

const templates = {
  service: readFileSync(join(repoRoot, 'templates', 'systemd', 'parako-update.service'), 'utf8'),
  timer: readFileSync(join(repoRoot, 'templates', 'systemd', 'parako-update.timer'), 'utf8'),
};

const spec = (over: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  dir: '/opt/parako-id',
  parako: ['/usr/lib/parako/bin/node', '/usr/lib/parako/bin/run.js'],
  onCalendar: 'Sun *-*-* 03:00',
  randomizedDelay: '30m',
  ...over,
});

/** One line `Key=value` of a unit text; fails when the key is not there exactly once. */
function setting(text: string, key: string): string {
  const lines = text.split('\n').filter((line) => line.startsWith(`${key}=`));
  expect(lines, `${key}= lines`).toHaveLength(1);
  return lines[0]!.slice(key.length + 1);
}

/**
 * The words systemd makes of an ExecStart= value, for the quoting execWord writes: "…" words,
 * with \\ and \" unescaped, %% as % and $$ as $ (systemd.service(5), "Command lines").
 */
function execWords(value: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"(?: |$)/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(value)) !== null) {
    const word = match[1]!;
    // A % or $ not doubled would be expanded by systemd: the quoting must never leave one.
    expect(word.replace(/%%|\$\$/g, '')).not.toMatch(/[%$]/);
    words.push(word.replace(/\\(.)/g, '$1').replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  expect(pattern.lastIndex === 0 ? value.length : pattern.lastIndex, `ExecStart= ${value} is not only quoted words`).toBe(value.length);
  return words;
}

const systemdEscape = ((): ((path: string) => string) | undefined => {
  try {
    execFileSync('systemd-escape', ['--version'], {stdio: 'ignore'});
  } catch {
    return undefined; // not installed here: the fixed expectations below still run
  }
  return (path) => execFileSync('systemd-escape', ['--path', path], {encoding: 'utf8'}).trim();
})();

describe('unit names', () => {
  it('are the install dir as systemd-escape --path spells it, so two dirs get two timers', () => {
    expect(unitNames('/opt/parako-id')).toEqual({
      instance: 'opt-parako\\x2did',
      service: 'parako-update@opt-parako\\x2did.service',
      timer: 'parako-update@opt-parako\\x2did.timer',
    });
    expect(unitNames('/srv/app').timer).not.toBe(unitNames('/srv/app-2').timer);
    // "/srv/a-b" and "/srv/a/b" would collide if "-" were kept: it is escaped.
    expect(escapePath('/srv/a-b')).not.toBe(escapePath('/srv/a/b'));
  });

  it.each([
    ['/opt/parako-id', 'opt-parako\\x2did'],
    ['/opt/my dir/.x/ü-ä', 'opt-my\\x20dir-.x-\\xc3\\xbc\\x2d\\xc3\\xa4'],
    ['/.hidden/a.b', '\\x2ehidden-a.b'],
    ['//srv//app/', 'srv-app'],
    ['/', '-'],
    ['/srv/a"b$c%d\\e;f', 'srv-a\\x22b\\x24c\\x25d\\x5ce\\x3bf'],
  ])('%s escapes as systemd-escape --path does', (path, escaped) => {
    expect(escapePath(path)).toBe(escaped);
    if (systemdEscape !== undefined) expect(escapePath(path)).toBe(systemdEscape(path));
  });

  it('refuses a relative path, . or .. components, control characters and names longer than systemd takes', () => {
    expect(() => escapePath('opt/app')).toThrow(UsageError);
    expect(() => escapePath('/opt/../etc')).toThrow(/\. or \.\./);
    expect(() => escapePath('/opt/app\nExecStartPre=/bin/evil')).toThrow(/control characters/);
    expect(() => unitNames(`/${'a'.repeat(240)}`)).toThrow(/too long for a systemd unit name/);
  });
});

describe('rendering the templates', () => {
  it('fills every placeholder: the window, the delay, the run and the writable install dir', () => {
    const units = renderUnits(templates, spec());
    expect(`${units.service}${units.timer}`).not.toMatch(/\{\{\w+\}\}/);
    expect(setting(units.timer, 'OnCalendar')).toBe('Sun *-*-* 03:00');
    expect(setting(units.timer, 'RandomizedDelaySec')).toBe('30m');
    expect(setting(units.timer, 'Persistent')).toBe('true');
    expect(setting(units.service, 'Type')).toBe('oneshot');
    expect(setting(units.service, 'SyslogIdentifier')).toBe('parako-update');
    expect(execWords(setting(units.service, 'ExecStart'))).toEqual([
      '/usr/lib/parako/bin/node', '/usr/lib/parako/bin/run.js', 'update', '--unattended', '--json', '--dir', '/opt/parako-id',
    ]);
    expect(setting(units.service, 'ReadWritePaths')).toBe('"-/opt/parako-id"');
    // No SuccessExitStatus=: exit 7 (rolled back) leaves the unit failed on purpose.
    expect(units.service).not.toMatch(/^SuccessExitStatus=/m);
  });

  it('a dir with spaces, quotes, backslashes, $ and % stays one word, unexpanded, in ExecStart= and ReadWritePaths=', () => {
    const dir = '/srv/my app/a"b\\c$HOME%n ${X}';
    const units = renderUnits(templates, spec({dir}));
    expect(execWords(setting(units.service, 'ExecStart')).at(-1)).toBe(dir);
    expect(execWords(setting(units.service, 'ExecStart'))).toHaveLength(7);
    // ReadWritePaths= unquotes and expands specifiers, but knows no $ variables.
    expect(setting(units.service, 'ReadWritePaths')).toBe('"-/srv/my app/a\\"b\\\\c$HOME%%n ${X}"');
  });

  it('a dir cannot add a directive: a newline is refused, not written', () => {
    expect(() => renderUnits(templates, spec({dir: '/srv/app\n[Service]\nExecStartPre=/bin/sh -c "curl evil|sh"'}))).toThrow(/control characters/);
    expect(() => execWord('a\rb')).toThrow(UsageError);
    expect(() => pathWord('a\tb')).toThrow(UsageError);
  });

  it('--on-calendar and --randomized-delay cannot add a directive, a specifier or a variable', () => {
    for (const bad of ['03:00\nExecStartPre=/bin/evil', '*-*-* 03:00 %n', '$HOME', '03:00;reboot', '"03:00"', '03:00 \\', '']) {
      expect(() => checkOnCalendar(bad), JSON.stringify(bad)).toThrow(UsageError);
      expect(() => renderUnits(templates, spec({onCalendar: bad})), JSON.stringify(bad)).toThrow(UsageError);
    }
    for (const bad of ['30m\nOnCalendar=minutely', '%n', '1h;', '-5']) {
      expect(() => checkTimespan(bad), JSON.stringify(bad)).toThrow(UsageError);
    }
    for (const good of ['Sun *-*-* 03:00', 'Mon..Fri 02:30 Europe/Berlin', '*:*:0/5', 'weekly', '*-*-* 03:00:00 UTC', '*-*~01 04:00']) {
      expect(checkOnCalendar(good)).toBe(good);
    }
    for (const good of ['0', '1800', '30m', '1h 30min', '2.5s']) expect(checkTimespan(good)).toBe(good);
  });
});

describe('systemctl show timestamps', () => {
  it('become ISO times; n/a and empty are null', () => {
    expect(timestampOf('Thu 2026-12-03 15:27:05 UTC')).toBe('2026-12-03T15:27:05.000Z');
    expect(timestampOf('n/a')).toBeNull();
    expect(timestampOf('')).toBeNull();
    expect(timestampOf(undefined)).toBeNull();
  });
});
