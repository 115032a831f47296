/**
 * How the plugin reads supervisorctl's output, and judges the programs look by look after the
 * restart. The samples are what supervisorctl 4.2 prints (test/integration/supervisor-supervisord.test.ts
 * drives a real supervisord); these cover cases a real program hits only by timing.
 */
import {judgeEach, validateSettings} from 'parako';
import {describe, expect, it} from 'vitest';

import {judgePrograms, judgeProgram} from '../src/judge.js';
import provider from '../src/provides.js';
import {linesAfter, MARK_BYTES, markOf, parseErrors, parseStatus, type ProgramStatus} from '../src/supervisorctl.js';

const STATUS = [
  'nope: ERROR (no such process)',
  'grp: ERROR (no such group)',
  'web                              RUNNING   pid 18546, uptime 0:00:01',
  'crash                            BACKOFF   Exited too quickly (process log may have details)',
  'idle                             STOPPED   Not started',
  'starting                         STARTING  ',
  'workers:worker_00                FATAL     Exited too quickly (process log may have details)',
  'a-program-name-longer-than-the-column RUNNING   pid 7, uptime 1 day, 2:03:04',
  '',
].join('\n');

function running(name: string, pid: number): ProgramStatus {
  return {name, state: 'RUNNING', pid, description: `pid ${pid}, uptime 0:00:02`};
}

describe('reading supervisorctl status', () => {
  it('reads each line: name, state, pid and the rest, with groups and long names', () => {
    const {programs} = parseStatus(STATUS);
    expect(programs).toEqual([
      {name: 'web', state: 'RUNNING', pid: 18546, description: 'pid 18546, uptime 0:00:01'},
      {name: 'crash', state: 'BACKOFF', description: 'Exited too quickly (process log may have details)'},
      {name: 'idle', state: 'STOPPED', description: 'Not started'},
      {name: 'starting', state: 'STARTING', description: ''},
      {name: 'workers:worker_00', state: 'FATAL', description: 'Exited too quickly (process log may have details)'},
      {name: 'a-program-name-longer-than-the-column', state: 'RUNNING', pid: 7, description: 'pid 7, uptime 1 day, 2:03:04'},
    ]);
  });

  it('keeps the names supervisord does not know apart, as it words them', () => {
    expect(parseStatus(STATUS).errors).toEqual([
      {name: 'nope', error: 'no such process'},
      {name: 'grp', error: 'no such group'},
    ]);
  });

  it('finds nothing in what supervisorctl prints when supervisord is down', () => {
    expect(parseStatus('unix:///run/supervisor.sock no such file\n')).toEqual({programs: [], errors: []});
    expect(parseStatus('http://localhost:9001 refused connection\n')).toEqual({programs: [], errors: []});
  });

  it('reads the ERROR lines of a restart', () => {
    expect(parseErrors('crash: ERROR (not running)\ncrash: ERROR (spawn error)\ngood: stopped\ngood: started\n')).toEqual([
      {name: 'crash', error: 'not running'},
      {name: 'crash', error: 'spawn error'},
    ]);
  });
});

describe('judging a program after the restart', () => {
  it('is up once RUNNING with a new pid, which is what must not change', () => {
    expect(judgeProgram(running('web', 200), 100)).toEqual({kind: 'up', identity: 'pid 200'});
    expect(judgeProgram(running('web', 200), undefined)).toEqual({kind: 'up', identity: 'pid 200'});
  });

  it('waits while it starts or stops', () => {
    expect(judgeProgram({name: 'web', state: 'STARTING', description: ''}, 100)).toEqual({kind: 'waiting', what: 'STARTING'});
    expect(judgeProgram({name: 'web', state: 'STOPPING', description: ''}, 100)).toEqual({kind: 'waiting', what: 'STOPPING'});
  });

  it('fails in BACKOFF, FATAL, EXITED or STOPPED, with the state and its description', () => {
    for (const state of ['BACKOFF', 'FATAL', 'EXITED', 'STOPPED', 'UNKNOWN']) {
      expect(judgeProgram({name: 'web', state, description: 'Exited too quickly (process log may have details)'}, 100)).toEqual({
        kind: 'failed',
        why: `supervisord shows it ${state} (Exited too quickly (process log may have details))`,
      });
    }
  });

  it('fails when it still runs the pid it had before, or is gone from supervisord', () => {
    expect(judgeProgram(running('web', 100), 100)).toMatchObject({kind: 'failed', why: expect.stringMatching(/still runs its old pid 100/)});
    expect(judgeProgram(undefined, 100)).toMatchObject({kind: 'failed', why: expect.stringMatching(/no longer lists it/)});
  });

  it('judges a look program by program, by name, so the SDK names the one at fault', () => {
    const before = [running('web', 100), running('worker', 101)];
    expect(judgeEach(judgePrograms([running('web', 200), running('worker', 201)], before))).toEqual({kind: 'up', identity: 'web pid 200, worker pid 201'});
    expect(judgeEach(judgePrograms([{name: 'web', state: 'STARTING', description: ''}, {name: 'worker', state: 'FATAL', description: ''}], before))).toEqual({
      kind: 'failed',
      why: 'worker: supervisord shows it FATAL',
    });
    expect(judgePrograms([running('web', 200)], before).get('worker')).toMatchObject({kind: 'failed', why: expect.stringMatching(/no longer lists it/)});
  });
});

describe('settings and what the plan shows', () => {
  const install = {app: 'shop', dir: '/opt/shop'};

  it('describes each program, and the commands an operator pastes, quoted, with the config file made absolute', () => {
    const settings = {type: 'supervisord' as const, programs: ['shop', 'jobs:worker_00'], configFile: 'runtime/supervisord.conf'};
    expect(provider.supervisor!.describe(settings, install)).toEqual(['supervisord program shop', 'supervisord program jobs:worker_00']);
    expect(provider.supervisor!.commands(settings, install)).toEqual({
      stop: 'supervisorctl -c /opt/shop/runtime/supervisord.conf stop shop jobs:worker_00',
      start: 'supervisorctl -c /opt/shop/runtime/supervisord.conf start shop jobs:worker_00',
      restart: 'supervisorctl -c /opt/shop/runtime/supervisord.conf restart shop jobs:worker_00',
    });
    expect(provider.supervisor!.commands({type: 'supervisord', programs: ['shop'], serverUrl: 'http://127.0.0.1:9001'}, install).restart).toBe('supervisorctl -s http://127.0.0.1:9001 restart shop');
  });

  it('accepts a section with programs, and refuses unknown keys, no programs and names with spaces', async () => {
    const check = (section: unknown) => validateSettings(provider.settings!, section);
    expect(await check({type: 'supervisord', programs: ['shop'], settleSeconds: 10})).toEqual({value: {type: 'supervisord', programs: ['shop'], settleSeconds: 10}, problems: []});
    const issues = async (section: unknown) => (await check(section)).problems;
    expect(await issues({type: 'supervisord', programs: [], units: ['x']})).toEqual(['supervisor.programs: Too small: expected array to have >=1 items', 'supervisor: unknown key "units"']);
    expect((await issues({type: 'supervisord', programs: ['my shop']}))[0]).toMatch(/^supervisor\.programs\.0: a program name as supervisorctl status shows it/);
    expect((await issues({type: 'supervisord', programs: ['shop'], settleSeconds: 601}))[0]).toMatch(/^supervisor\.settleSeconds: Too big/);
  });
});

describe('where this start begins in a log read with supervisorctl tail', () => {
  it('takes what follows the last place the mark occurs', () => {
    expect(linesAfter('a\nb\nc\nb\nd\n', 'b\n')).toEqual({text: 'd\n', known: true});
    expect(linesAfter('old\nnew\n', 'old\n')).toEqual({text: 'new\n', known: true});
    expect(linesAfter('old\n', 'old\n')).toEqual({text: '', known: true});
  });

  it('an empty mark: the log had nothing before, all of it is this start', () => {
    expect(linesAfter('new\n', '')).toEqual({text: 'new\n', known: true});
  });

  it('no mark, or a mark not found: the whole read, not known to be this start', () => {
    expect(linesAfter('new\n', undefined)).toEqual({text: 'new\n', known: false});
    expect(linesAfter('new\n', 'rotated away\n')).toEqual({text: 'new\n', known: false});
  });

  it('a full mark drops its first line, which may start inside a character', () => {
    const lines = 'y\n'.repeat(MARK_BYTES / 2);
    expect(markOf(`\u00e9${'x'.repeat(99)}\n${lines}`)).toBe(lines);
    expect(markOf('short\nlog\n')).toBe('short\nlog\n');
  });
});
