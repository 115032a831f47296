import {spawn} from 'node:child_process';
import {mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile} from 'node:fs/promises';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {LockHeldError} from '../../src/core/errors.js';
import {Layout} from '../../src/core/layout.js';
import {acquireLock, inspectLock, removeDeadLockDrafts} from '../../src/core/lock.js';

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

  it('clears the takeover mark of a run that died mid-takeover once it is old, and not before', async () => {
    await mkdir(layout.stateDir, {recursive: true});
    const dead = {pid: 2 ** 22 + 777, startedAt: '2026-01-01T00:00:00.000Z', command: 'update', host: hostname()};
    await writeFile(layout.lockFile, JSON.stringify(dead));
    const mark = `${layout.lockFile}.takeover`;
    await writeFile(mark, JSON.stringify(dead));
    // A fresh mark may belong to a taker that is about to finish: wait, then give up with exit 4.
    await expect(acquireLock(layout, 'update')).rejects.toBeInstanceOf(LockHeldError);
    const old = new Date(Date.now() - 60_000);
    await utimes(mark, old, old);
    const held = await acquireLock(layout, 'update');
    expect(held.tookOverFrom).toMatchObject({pid: dead.pid});
    await held.release();
    expect(await readdir(layout.stateDir)).toEqual([]);
  }, 20_000);

  it('recovery removes the lock drafts of dead writers, never a live writer\'s', async () => {
    await mkdir(layout.stateDir, {recursive: true});
    const dead = `lock.${2 ** 22 + 99}-0badf00d.tmp`;
    const deadMark = `lock.takeover.${2 ** 22 + 98}-0badf00d.tmp`;
    const live = `lock.${process.pid}-c0ffee00.tmp`;
    for (const name of [dead, deadMark, live]) await writeFile(join(layout.stateDir, name), '{}');
    expect((await removeDeadLockDrafts(layout)).sort()).toEqual([dead, deadMark].sort());
    expect(await readdir(layout.stateDir)).toEqual([live]);
  });

  it('treats an empty lock file (killed between create and write) as stale', async () => {
    await mkdir(layout.stateDir, {recursive: true});
    await writeFile(layout.lockFile, '');
    const held = await acquireLock(layout, 'update');
    expect(held.tookOverFrom).toBeDefined();
    await held.release();
  });
});

describe('operation lock under contention', () => {
  let layout: Layout;
  beforeEach(async () => {
    layout = new Layout(await mkdtemp(join(tmpdir(), 'parako-lock-race-')));
  });
  afterEach(async () => {
    await rm(layout.dir, {recursive: true, force: true});
  });

  /**
   * Ten processes released at the same instant on a lock left by a dead run: each one that
   * gets it holds it for a second. A lock seen half-written, or a stale lock removed twice,
   * would let two of them in at once.
   */
  it('lets exactly one of ten simultaneous processes take over a stale lock, round after round', async () => {
    const lockModule = new URL('../../src/core/lock.ts', import.meta.url).pathname;
    const layoutModule = new URL('../../src/core/layout.ts', import.meta.url).pathname;
    const child = `
      const {acquireLock} = await import(${JSON.stringify(lockModule)});
      const {Layout} = await import(${JSON.stringify(layoutModule)});
      const {existsSync} = await import('node:fs');
      const [dir, at, releaseFile] = process.argv.slice(-3);
      while (Date.now() < Number(at)) {}
      try {
        const lock = await acquireLock(new Layout(dir), 'race');
        console.log('GOT ' + Date.now());
        // Held until the others have tried (or 30 s): on a loaded machine a process that starts
        // late must still find the lock held, not take a lock released after a fixed second.
        for (let waited = 0; waited < 30_000 && !existsSync(releaseFile); waited += 50) await new Promise((r) => setTimeout(r, 50));
        await lock.release();
      } catch (e) { console.log('HELD ' + e.code); }`;
    for (let round = 0; round < 3; round++) {
      await mkdir(layout.stateDir, {recursive: true});
      await writeFile(layout.lockFile, JSON.stringify({pid: 2 ** 22 + 4242, startedAt: `round ${round}`, command: 'update', host: hostname()}));
      const at = String(Date.now() + 2500);
      const releaseFile = join(layout.dir, `release-round-${round}`);
      let closed = 0;
      const outputs = await Promise.all(
        Array.from({length: 10}, () => new Promise<string>((resolve) => {
          const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child, layout.dir, at, releaseFile], {stdio: ['ignore', 'pipe', 'inherit']});
          let out = '';
          proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          proc.on('close', () => {
            // Nine have given up: the holder may let go. (Two holders would wait out their 30 s.)
            if (++closed === 9) void writeFile(releaseFile, '');
            resolve(out.trim());
          });
        })),
      );
      expect(outputs.filter((line) => line.startsWith('GOT')), `round ${round}: ${outputs.join(' | ')}`).toHaveLength(1);
      expect(outputs.filter((line) => line === 'HELD 4'), `round ${round}: ${outputs.join(' | ')}`).toHaveLength(9);
      expect((await readdir(layout.stateDir)).filter((name) => name !== 'lock'), 'drafts or takeover marks left').toEqual([]);
    }
  }, 60_000);
});
