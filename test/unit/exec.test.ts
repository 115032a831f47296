import {readFileSync} from 'node:fs';
import {chmod, mkdtemp, readFile, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import pino from 'pino';
import {describe, expect, it} from 'vitest';

import {execCommand, lookupUser, RUN_AS_PATH} from '../../src/core/exec.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';

const log = pino({level: 'silent'});

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces): state, ppid, pgrp, session, tty_nr, … */
function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // no such process
  }
}

/** Running, not a zombie waiting for a parent that is gone. */
function alive(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

async function withEnv<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
const missing = testUserMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide the test user: ${missing}`);
}

describe('ctx.exec', () => {
  it('runs an argument array, never a shell string, and captures output and exit code', async () => {
    const result = await execCommand('printf', ['%s|', 'a b', '$(id)', ';true'], {log});
    expect(result).toMatchObject({code: 0, stdout: 'a b|$(id)|;true|'});
    expect(await execCommand('sh', ['-c', 'echo oops >&2; exit 7'], {log})).toMatchObject({code: 7, stderr: 'oops\n'});
  });

  it('streams lines to onOutput as they come', async () => {
    const lines: string[] = [];
    await execCommand('sh', ['-c', 'echo one; echo two >&2; printf three'], {log, onOutput: (line, stream) => lines.push(`${stream}:${line}`)});
    expect(lines.sort()).toEqual(['stderr:two', 'stdout:one', 'stdout:three']);
  });

  it('kills the program when the signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await expect(execCommand('sleep', ['30'], {log, signal: controller.signal})).rejects.toThrow(/abort/i);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it.skipIf(missing !== false)(`runs as another user with that user's uid, gid, groups and HOME${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    const user = lookupUser(TEST_USER);
    const result = await execCommand('sh', ['-c', 'id -u; id -g; id -Gn; echo $HOME; pwd'], {runAs: TEST_USER, cwd: '/tmp', log});
    const [uid, gid, groups, home, cwd] = result.stdout.trim().split('\n');
    expect(Number(uid)).toBe(user.uid);
    expect(Number(gid)).toBe(user.gid);
    expect(groups?.split(' ')).toContain('parako-test-extra');
    expect(home).toBe(user.home);
    expect(cwd).toBe('/tmp');
  });

  it.skipIf(missing !== false)('sends stdout of a program running as another user into a 0600 file in a folder only root may enter', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'parako-exec-'));
    try {
      await chmod(folder, 0o700);
      const file = join(folder, 'dump.partial');
      const result = await execCommand('sh', ['-c', 'id -un; echo done >&2'], {runAs: TEST_USER, cwd: '/', stdoutTo: file, log});
      expect(result).toMatchObject({code: 0, stdout: '', stderr: 'done\n'});
      expect(await readFile(file, 'utf8')).toBe(`${TEST_USER}\n`);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(folder, {recursive: true, force: true});
    }
  });

  it.skipIf(missing !== false)('runs a program as another user in a session of its own, without a controlling terminal', async () => {
    // $$ is the shell; /proc/self is the cut it starts, in the shell's session.
    const result = await execCommand('sh', ['-c', `echo $$; sed 's/.*) //' /proc/self/stat | cut -d' ' -f4,5`], {runAs: TEST_USER, cwd: '/', log});
    const [shell, own] = result.stdout.trim().split('\n');
    const [session, tty] = own!.split(' ');
    expect(session).toBe(shell); // the shell leads a new session (setsid)
    expect(session).not.toBe(procStat('self')![3]);
    expect(tty).toBe('0');
  });

  it.skipIf(missing !== false)("kills what a program run as another user started when the signal aborts, not the program alone", async () => {
    const controller = new AbortController();
    let background: number | undefined;
    const running = execCommand('sh', ['-c', 'sleep 30 & echo $!; wait'], {
      runAs: TEST_USER,
      cwd: '/',
      log,
      signal: controller.signal,
      onOutput: (line) => {
        background = Number(line);
        controller.abort();
      },
    });
    await expect(running).rejects.toThrow(/abort/i);
    expect(background).toBeGreaterThan(0);
    const deadline = Date.now() + 5000;
    while (alive(background!) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(alive(background!), `sleep ${background} still runs`).toBe(false);
  });

  it.skipIf(missing !== false)("gives a program run as another user none of parako's environment but the locale, plus the env it is given", async () => {
    const user = lookupUser(TEST_USER);
    const result = await withEnv({SECRET_X: '1', AWS_SECRET_ACCESS_KEY: 'root-only', LANG: 'C.UTF-8'}, () =>
      execCommand('env', [], {runAs: TEST_USER, cwd: '/', env: {PGHOST: '/run/postgresql'}, log}),
    );
    const env = Object.fromEntries(result.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    const locale = Object.keys(process.env).filter((name) => /^(LANGUAGE|LC_[A-Z_]+|TZ)$/.test(name));
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'LOGNAME', 'PATH', 'PGHOST', 'SHELL', 'USER', ...locale].sort());
    expect(env).toMatchObject({PATH: RUN_AS_PATH, HOME: user.home, USER: TEST_USER, LOGNAME: TEST_USER, SHELL: user.shell, LANG: 'C.UTF-8', PGHOST: '/run/postgresql'});
  });

  it("gives a program run as parako's own user parako's environment, plus the env it is given", async () => {
    const result = await withEnv({SECRET_X: '1'}, () => execCommand('env', [], {env: {PGHOST: '/run/postgresql'}, log}));
    expect(result.stdout).toContain('SECRET_X=1\n');
    expect(result.stdout).toContain('PGHOST=/run/postgresql\n');
  });

  it('names an unknown user', async () => {
    await expect(execCommand('true', [], {runAs: 'no-such-user-parako', log})).rejects.toThrow(/no system user named "no-such-user-parako"/);
  });
});
