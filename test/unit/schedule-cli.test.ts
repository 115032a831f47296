/**
 * `parako schedule` through the real CLI on a host where systemd is not PID 1 (this test
 * host, a container): a clear refusal with the next step, and the operator's input checked
 * first. The timer itself is tested with systemd as PID 1 in test/integration/schedule.test.ts.
 */
import {existsSync} from 'node:fs';
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {runParako} from '../fixtures/cli.js';

describe.skipIf(existsSync('/run/systemd/system'))('parako schedule without systemd as PID 1', () => {
  let dir: string;
  let unitDir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parako-schedule-'));
    unitDir = await mkdtemp(join(tmpdir(), 'parako-schedule-units-'));
    await writeFile(join(dir, 'parako.json'), JSON.stringify({app: 'demo-app', source: {index: 'http://127.0.0.1:9/index.json'}, verify: {key: join(dir, 'cosign.pub')}}));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
    await rm(unitDir, {recursive: true, force: true});
  });
  const schedule = (args: string[]) => runParako(['schedule', ...args, '--dir', dir], {env: {PARAKO_SYSTEMD_DIR: unitDir}});

  it('enable, disable and status refuse with exit 5, say why and what to run instead, and write no unit', async () => {
    for (const action of ['enable', 'disable', 'status']) {
      const result = await schedule([action, '--json']);
      expect(result.code, `${action}: ${result.stdout}${result.stderr}`).toBe(5);
      expect(result.json).toMatchObject({code: 5, outcome: 'failed', reason: 'refused'});
      const {message, next} = result.json as {message: string; next: string};
      expect(message).toContain('systemd is not the init system of this host');
      expect(next).toContain(`parako update --unattended --json --dir ${dir} from the scheduler this host has`);
    }
    const human = await schedule(['enable']);
    expect(human.stderr).toMatch(/^parako: systemd is not the init system.*nothing was changed\nnext: run parako update --unattended/m);
    expect(await readdir(unitDir)).toEqual([]);
  });

  it('a bad window, a bad delay or a misplaced option is a usage error (exit 2) on any host', async () => {
    const calendar = await schedule(['enable', '--on-calendar', '03:00\nExecStartPre=/bin/sh', '--json']);
    expect(calendar.json).toMatchObject({code: 2, reason: 'usage'});
    expect((calendar.json as {message: string}).message).toContain('is not a systemd calendar expression');
    const delay = await schedule(['enable', '--randomized-delay', '30m; reboot', '--json']);
    expect(delay.json).toMatchObject({code: 2, reason: 'usage'});
    const misplaced = await schedule(['status', '--on-calendar', 'daily', '--json']);
    expect(misplaced.json).toMatchObject({code: 2, reason: 'usage'});
    expect((misplaced.json as {message: string}).message).toContain('options of parako schedule enable');
    const action = await schedule(['frobnicate', '--json']);
    expect(action.code).toBe(2);
  });

  it('enable checks parako.json before anything else: a missing config is exit 2', async () => {
    await rm(join(dir, 'parako.json'));
    const result = await schedule(['enable', '--json']);
    expect(result.json).toMatchObject({code: 2, reason: 'config'});
  });
});
