import {chmod, mkdtemp, readFile, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import pino from 'pino';
import {describe, expect, it} from 'vitest';

import {execCommand, lookupUser} from '../../src/core/exec.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';

const log = pino({level: 'silent'});
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

  it('names an unknown user', async () => {
    await expect(execCommand('true', [], {runAs: 'no-such-user-parako', log})).rejects.toThrow(/no system user named "no-such-user-parako"/);
  });
});
