import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {LockHeldError} from '../../src/core/errors.js';
import {Layout} from '../../src/core/layout.js';
import {acquireLock, inspectLock} from '../../src/core/lock.js';

describe('operation lock', () => {
  let layout: Layout;
  beforeEach(async () => {
    layout = new Layout(await mkdtemp(join(tmpdir(), 'parako-lock-')));
  });
  afterEach(async () => {
    await rm(layout.dir, {recursive: true, force: true});
  });

  it('lets exactly one holder in and names it to the next', async () => {
    const held = await acquireLock(layout, 'update');
    const error = await acquireLock(layout, 'rollback').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toContain(`pid ${process.pid}`);
    expect((error as Error).message).toContain(held.owner.startedAt);
    await held.release();
    const again = await acquireLock(layout, 'rollback');
    await again.release();
    await expect(inspectLock(layout)).resolves.toBeUndefined();
  });

  it('takes over a lock whose process is gone, and says whose it was', async () => {
    await mkdir(layout.stateDir, {recursive: true});
    const stale = {pid: 2 ** 22 + 12345, startedAt: '2026-01-01T00:00:00.000Z', command: 'update', host: hostname()};
    await writeFile(layout.lockFile, JSON.stringify(stale));
    const held = await acquireLock(layout, 'update');
    expect(held.tookOverFrom).toMatchObject({pid: stale.pid, command: 'update'});
    expect(JSON.parse(await readFile(layout.lockFile, 'utf8'))).toMatchObject({pid: process.pid});
    await held.release();
  });

  it('treats an empty lock file (killed between create and write) as stale', async () => {
    await mkdir(layout.stateDir, {recursive: true});
    await writeFile(layout.lockFile, '');
    const held = await acquireLock(layout, 'update');
    expect(held.tookOverFrom).toBeDefined();
    await held.release();
  });
});
