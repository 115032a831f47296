/**
 * The hooks called the way parako calls them, with a `{ctx}` whose exec plays supervisorctl:
 * what counts as "the new release runs" (RUNNING, a new pid, steady), and what a failure says.
 */
import {type ExecOptions, type ExecResult, type HookContext, testContext} from 'parako';
import {describe, expect, it} from 'vitest';

import preDownload from '../src/hooks/pre-download.js';
import restart, {restartPrograms} from '../src/hooks/restart.js';
import {provider, type SupervisordSettings} from '../src/provides.js';

/** A `supervisorctl status` line. */
const line = (name: string, state: string, description = ''): string => `${name.padEnd(33)}${state.padEnd(10)}${description}`;
const up = (name: string, pid: number): string => line(name, 'RUNNING', `pid ${pid}, uptime 0:00:05`);

interface Call {
  command: string;
  args: string[];
  options: ExecOptions;
}

interface Script {
  /** What `status` prints, look by look (the last one repeats); a look is the lines for the programs asked. */
  looks: string[][];
  restart?: ExecResult;
  /** What the stderr log holds after the restart (the end of what it held before, then this start's lines). */
  stderr?: string;
  /** What the stderr log held before the restart. */
  stderrBefore?: string;
  stdout?: string;
  stdoutBefore?: string;
  /** What `status` with no names prints (every program). */
  all?: string[];
}

function contextWith(script: Script, supervisor: Partial<SupervisordSettings> = {}, from = true): {ctx: HookContext; calls: Call[]; said: string[]} {
  const calls: Call[] = [];
  const settings: SupervisordSettings = {type: 'supervisord', programs: ['web'], configFile: 'runtime/supervisord.conf', ...supervisor};
  let next = 0;
  const exec = async (command: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> => {
    calls.push({command, args, options});
    const [action, ...rest] = args.slice(2); // after -c <file>
    if (action === 'status' && rest.length === 0) return {code: script.all?.length ? 3 : 0, stdout: (script.all ?? []).map((entry) => `${entry}\n`).join(''), stderr: ''};
    if (action === 'status') return {code: 0, stdout: `${script.looks[Math.min(next++, script.looks.length - 1)]!.join('\n')}\n`, stderr: ''};
    if (action === 'restart') return script.restart ?? {code: 0, stdout: 'web: stopped\nweb: started\n', stderr: ''};
    if (action === 'tail') {
      // `tail -<bytes> <name> <stream>`: -4096 marks the log before the restart; supervisorctl adds a newline.
      const [bytes, , stream] = rest;
      const log = stream === 'stderr' ? (bytes === '-4096' ? script.stderrBefore : script.stderr) : bytes === '-4096' ? script.stdoutBefore : script.stdout;
      return {code: 0, stdout: `${log ?? ''}\n`, stderr: ''};
    }
    return {code: 0, stdout: '', stderr: ''};
  };
  const {ctx, said} = testContext('restart', {
    dir: '/opt/shop',
    from: from ? {version: '1.0.0', path: '/opt/shop/releases/v1.0.0'} : undefined,
    settings,
    exec,
  });
  return {ctx, calls, said};
}

const settingsOf = (ctx: HookContext) => provider.settingsOf(ctx);
const FAST = {settleMs: 30, pollMs: 5};

describe('supervisord restart hook', () => {
  it('restarts through the configured config file, then waits for a new pid that stays, and says so', async () => {
    const {ctx, calls, said} = contextWith({looks: [[up('web', 100)], [line('web', 'STARTING')], [up('web', 200)]]});
    await restartPrograms(ctx, settingsOf(ctx), FAST);
    expect(calls.slice(0, 4).map((call) => [call.command, ...call.args].join(' '))).toEqual([
      'supervisorctl -c /opt/shop/runtime/supervisord.conf status web',
      'supervisorctl -c /opt/shop/runtime/supervisord.conf tail -4096 web stderr',
      'supervisorctl -c /opt/shop/runtime/supervisord.conf tail -4096 web stdout',
      'supervisorctl -c /opt/shop/runtime/supervisord.conf restart web',
    ]);
    expect(calls[0]!.options.cwd).toBe('/');
    expect(said).toEqual(['supervisorctl -c /opt/shop/runtime/supervisord.conf restart web', 'web is RUNNING with new pid 200 (steady for 0.03 s)']);
  });

  it('waits supervisor.settleSeconds (here 0) when the config sets it', async () => {
    const {ctx, said} = contextWith({looks: [[up('web', 100)], [up('web', 300)]]}, {settleSeconds: 0});
    await restart({ctx});
    expect(said.at(-1)).toBe('web is RUNNING with new pid 300 (steady for 0 s)');
  });

  it('stops before restarting anything when supervisord has no such program, naming what it runs', async () => {
    const {ctx, calls} = contextWith({looks: [['web: ERROR (no such process)', up('shop', 5)]], all: [up('shop', 5), line('jobs:worker_00', 'STOPPED', 'Not started')]}, {programs: ['web', 'shop']});
    await expect(restartPrograms(ctx, settingsOf(ctx), FAST)).rejects.toThrow(
      'supervisord has no program web; supervisor.programs must name programs from its config (it runs shop, jobs:worker_00)',
    );
    expect(calls.some((call) => call.args.includes('restart'))).toBe(false);
  });

  it('fails a program left in BACKOFF, with its state, what the restart said, and what its stderr log got since the restart', async () => {
    const {ctx} = contextWith({
      looks: [[up('web', 100)], [line('web', 'BACKOFF', 'Exited too quickly (process log may have details)')]],
      restart: {code: 7, stdout: 'web: stopped\nweb: ERROR (spawn error)\n', stderr: ''},
      stderrBefore: 'shop v1 warning: cache cold\n',
      stderr: 'shop v1 warning: cache cold\nstarting\nshop v2 cannot start: DATABASE_URL is not set\n',
    });
    const failure = restartPrograms(ctx, settingsOf(ctx), FAST);
    await expect(failure).rejects.toThrow(
      new RegExp(
        [
          'supervisord program web did not stay up: supervisord shows it BACKOFF \\(Exited too quickly \\(process log may have details\\)\\)',
          'supervisorctl restart said: web: ERROR \\(spawn error\\)',
          'log lines since the restart at \\d\\d:\\d\\d:\\d\\d \\(supervisorctl -c /opt/shop/runtime/supervisord\\.conf tail -65536 web stderr, after what it held before the restart\\):',
          ' {2}starting',
          ' {2}shop v2 cannot start: DATABASE_URL is not set$',
        ].join('\n'),
      ),
    );
  });

  it('leaves out what the logs held before the restart, old lines on stdout too, and says when this start wrote nothing', async () => {
    const old = 'shop v1 listening on 8080\nshop v1 stopping on SIGTERM\n';
    const quiet = contextWith({looks: [[up('web', 100)], [line('web', 'FATAL', 'Exited too quickly (process log may have details)')]], stdoutBefore: old, stdout: old});
    await expect(restartPrograms(quiet.ctx, settingsOf(quiet.ctx), FAST)).rejects.toThrow(
      /\nno log lines since the restart at \d\d:\d\d:\d\d \(supervisorctl -c \S+ tail web stderr, and stdout\)$/,
    );
    const loud = contextWith({
      looks: [[up('web', 100)], [line('web', 'FATAL', 'Exited too quickly (process log may have details)')]],
      stdoutBefore: old,
      stdout: `${old}shop v2 listening on 8080\nshop v2 lost its database and exits\n`,
    });
    const failure = restartPrograms(loud.ctx, settingsOf(loud.ctx), FAST);
    await expect(failure).rejects.toThrow(/\(supervisorctl -c \S+ tail -65536 web stdout, after what it held before the restart\):\n {2}shop v2 listening on 8080\n {2}shop v2 lost its database and exits$/);
    await expect(failure).rejects.not.toThrow(/shop v1/);
  });

  it('says so when it cannot tell this start\'s lines from older ones (the log was rotated)', async () => {
    const {ctx} = contextWith({
      looks: [[up('web', 100)], [line('web', 'FATAL', 'Exited too quickly (process log may have details)')]],
      stderrBefore: 'shop v1 old line\n',
      stderr: 'shop v2 cannot start\n',
    });
    await expect(restartPrograms(ctx, settingsOf(ctx), FAST)).rejects.toThrow(
      /\nlast log lines of supervisorctl -c \S+ tail -65536 web stderr \(parako cannot tell which of them this start wrote: the log was rotated or truncated, or this start wrote more than 64 KiB\):\n {2}shop v2 cannot start$/,
    );
  });

  it('fails a crash loop: a new pid within the settle window, although the restart succeeded', async () => {
    const {ctx} = contextWith({looks: [[up('web', 100)], [up('web', 200)], [up('web', 200)], [up('web', 201)]], stderr: 'boom\n'});
    await expect(restartPrograms(ctx, settingsOf(ctx), {settleMs: 1000, pollMs: 5})).rejects.toThrow(
      /^supervisord program web did not stay up: it restarted within 1 s of coming up \(crash loop\?\)\nstate: RUNNING \(pid 201, uptime 0:00:05\)\nlog lines since the restart at [\d:]+ \(.* tail -65536 web stderr, after what it held before the restart\):\n {2}boom$/,
    );
  });

  it('blames the program whose pid changed within the settle window, not the steady one', async () => {
    const looks = [[up('web', 100), up('worker', 101)], [up('web', 200), up('worker', 201)], [up('web', 200), up('worker', 201)], [up('web', 200), up('worker', 202)]];
    const {ctx} = contextWith({looks, stderr: 'boom\n'}, {programs: ['web', 'worker']});
    const failure = restartPrograms(ctx, settingsOf(ctx), {settleMs: 1000, pollMs: 5});
    await expect(failure).rejects.toThrow(/^supervisord program worker did not stay up: it restarted within 1 s of coming up \(crash loop\?\)\nstate: RUNNING \(pid 202, uptime 0:00:05\)\nlog lines since the restart at [\d:]+ \(.* tail -65536 worker stderr, after what it held before the restart\):\n {2}boom$/);
  });

  it('starts a program that was stopped, and takes "not running" from the stop as harmless', async () => {
    const {ctx, said} = contextWith({
      looks: [[line('web', 'FATAL', 'Exited too quickly (process log may have details)')], [up('web', 400)]],
      restart: {code: 0, stdout: 'web: ERROR (not running)\nweb: started\n', stderr: ''},
    });
    await restartPrograms(ctx, settingsOf(ctx), FAST);
    expect(said.at(-1)).toBe('web is RUNNING with new pid 400 (steady for 0.03 s)');
  });

  it('says what supervisorctl printed when supervisord does not answer', async () => {
    const {ctx} = contextWith({looks: [[]]});
    ctx.exec = async () => ({code: 4, stdout: 'unix:///run/supervisor.sock no such file\n', stderr: ''});
    await expect(restartPrograms(ctx, settingsOf(ctx), FAST)).rejects.toThrow(
      'supervisorctl -c /opt/shop/runtime/supervisord.conf status web failed (exit 4): unix:///run/supervisor.sock no such file',
    );
  });
});

describe('supervisord pre-download hook', () => {
  const unknown: Script = {looks: [['web: ERROR (no such process)']], all: []};

  it('stops an update whose programs supervisord does not know, before anything is downloaded', async () => {
    const {ctx} = contextWith(unknown);
    ctx.point = 'pre-download';
    await expect(preDownload({ctx})).rejects.toThrow('supervisord has no program web; supervisor.programs must name programs from its config (it runs nothing)');
  });

  it('only warns in a dry run, and checks nothing on a first install', async () => {
    const dry = contextWith(unknown);
    Object.assign(dry.ctx, {point: 'pre-download', dryRun: true});
    await preDownload({ctx: dry.ctx});
    expect(dry.said).toEqual([expect.stringMatching(/^warning: supervisord has no program web; .*; the update would stop with code 6$/)]);
    const first = contextWith(unknown, {}, false);
    first.ctx.point = 'pre-download';
    await preDownload({ctx: first.ctx});
    expect(first.calls).toEqual([]);
  });
});
