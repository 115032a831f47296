/**
 * Which `parako status` arguments bin/run.js answers without oclif (src/cli/fast-status.ts):
 * exactly the plain forms of the command's own flags. Everything else must go to oclif
 * (undefined), so that its help and its usage errors stay the only ones.
 */
import {describe, expect, it} from 'vitest';

import {parseStatusArgs} from '../../src/cli/fast-status.js';
import {DEFAULT_DIR} from '../../src/core/layout.js';

describe('parseStatusArgs', () => {
  it('takes --dir (spaced or with =), --json and a valid --log-level, with the flags\' defaults', () => {
    expect(parseStatusArgs([], {})).toEqual({dir: DEFAULT_DIR, json: false});
    expect(parseStatusArgs([], {PARAKO_DIR: '/srv/app'})).toEqual({dir: '/srv/app', json: false});
    expect(parseStatusArgs(['--dir', '/opt/x', '--json'], {PARAKO_DIR: '/srv/app'})).toEqual({dir: '/opt/x', json: true});
    expect(parseStatusArgs(['--json', '--dir=/opt/x', '--log-level=debug'], {})).toEqual({dir: '/opt/x', json: true});
    expect(parseStatusArgs(['--log-level', 'silent'], {})).toEqual({dir: DEFAULT_DIR, json: false});
  });

  it('leaves to oclif: help, unknown, repeated or valueless flags, bad levels, arguments, an empty PARAKO_DIR', () => {
    for (const args of [['--help'], ['-h'], ['--colour'], ['--dir'], ['--dir', '--json'], ['--dir='], ['--json', '--json'], ['--dir', 'a', '--dir', 'b'], ['--log-level', 'loud'], ['--json=true'], ['extra']]) {
      expect({args, parsed: parseStatusArgs(args, {})}).toEqual({args, parsed: undefined});
    }
    expect(parseStatusArgs([], {PARAKO_DIR: ''})).toBeUndefined();
  });
});
