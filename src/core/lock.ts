import {randomBytes} from 'node:crypto';
import {constants, readFileSync} from 'node:fs';
import {link, open, readdir, readFile, stat, unlink} from 'node:fs/promises';
import {hostname} from 'node:os';
import {dirname, join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

import {DiskFullError, LockHeldError} from './errors.js';
import type {Layout} from './layout.js';
import {ensurePrivateDir} from './safe-dir.js';

export interface LockOwner {
  pid: number;
  /** Kernel start time of the process, so a reused pid is not mistaken for the holder. */
  procStart?: string;
  startedAt: string;
  command: string;
  host: string;
}

export interface HeldLock {
  owner: LockOwner;
  /** Set when a stale lock from a dead process was taken over. */
  tookOverFrom?: LockOwner;
  release(): Promise<void>;
}

/**
 * Takes `.parako/lock` so exactly one operation runs. A lock whose process is gone is stale
 * (the run was killed) and is taken over; a live one fails at once with code 4.
 */
export async function acquireLock(layout: Layout, command: string): Promise<HeldLock> {
  ensurePrivateDir(layout.stateDir);
  const owner: LockOwner = {
    pid: process.pid,
    procStart: processStartTime(process.pid),
    startedAt: new Date().toISOString(),
    command,
    host: hostname(),
  };
  let tookOverFrom: LockOwner | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await tryCreate(layout.lockFile, owner)) {
      return {
        owner,
        tookOverFrom,
        release: async () => {
          await unlink(layout.lockFile).catch((error: NodeJS.ErrnoException) => {
            // Already gone means a recovery elsewhere removed it; nothing left to release.
            if (error.code !== 'ENOENT') throw error;
          });
        },
      };
    }
    const holder = await readOwner(layout.lockFile);
    if (holder === undefined) continue; // released between our create and read: try again
    if (isAlive(holder)) {
      throw new LockHeldError(
        `another parako operation holds ${layout.lockFile}: "${holder.command}" pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}`,
        {next: 'wait for it to finish (parako status shows its progress); nothing was changed'},
      );
    }
    const removed = await removeStaleLock(layout, holder, owner);
    if (removed === 'busy') await sleep(20 + Math.floor(Math.random() * 30));
    if (removed === 'removed') tookOverFrom = holder;
  }
  throw new LockHeldError(`could not take ${layout.lockFile}: other parako processes keep taking it`, {
    next: 'run parako status, then try again',
  });
}

/** A takeover that died holding the takeover lock is presumed gone after this long. */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Removes the lock of a dead `holder`, unless it changed meanwhile. Only the holder of
 * `lock.takeover` may remove someone else's lock: without it, two processes could both judge
 * the same lock stale, and the slower one would delete the lock the faster one just took.
 */
async function removeStaleLock(layout: Layout, holder: LockOwner, me: LockOwner): Promise<'removed' | 'changed' | 'busy'> {
  const takeover = `${layout.lockFile}.takeover`;
  if (!(await tryCreate(takeover, me))) {
    const age = await stat(takeover).then((s) => Date.now() - s.mtimeMs, () => 0);
    const taker = await readOwner(takeover);
    if (taker !== undefined && !isAlive(taker) && age > TAKEOVER_STALE_MS) await unlink(takeover).catch(() => undefined);
    return 'busy';
  }
  try {
    const again = await readOwner(layout.lockFile);
    if (again === undefined || !sameOwner(again, holder)) return 'changed';
    await unlink(layout.lockFile).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    return 'removed';
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}

/** The current holder of the lock, if any, and whether that process still runs. */
export async function inspectLock(layout: Layout): Promise<{owner: LockOwner; alive: boolean} | undefined> {
  const owner = await readOwner(layout.lockFile);
  return owner === undefined ? undefined : {owner, alive: isAlive(owner)};
}

/**
 * Publishes a complete lock file or fails with false when one exists: the owner is written and
 * fsynced under a private name, then hard-linked to `file`, which fails with EEXIST atomically.
 * A reader can never see the lock empty, as it could between an O_EXCL create and its write.
 */
async function tryCreate(file: string, owner: LockOwner): Promise<boolean> {
  const draft = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await handle.writeFile(JSON.stringify(owner) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(draft, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new DiskFullError(`no space left on ${dirname(file)} to take the lock; nothing was changed`, {
        next: 'free space on that filesystem (parako prune removes old releases once there is room for its lock), then run the command again',
        cause: error,
      });
    }
    throw error;
  } finally {
    await unlink(draft).catch(() => undefined);
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number') {
      return {
        pid: parsed.pid,
        procStart: parsed.procStart,
        startedAt: parsed.startedAt ?? 'unknown',
        command: parsed.command ?? 'unknown',
        host: parsed.host ?? 'unknown',
      };
    }
  } catch {
    // Lock files are published whole, so an empty or torn one is not from a live parako: dead.
  }
  return {pid: 0, startedAt: 'unknown', command: 'unknown (unreadable lock file)', host: 'unknown'};
}

function sameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.startedAt === b.startedAt && a.procStart === b.procStart;
}

function isAlive(owner: LockOwner): boolean {
  if (owner.pid <= 0) return false;
  if (owner.host !== 'unknown' && owner.host !== hostname()) return true; // cannot tell: be safe
  if (!processExists(owner.pid)) return false;
  const start = processStartTime(owner.pid);
  return owner.procStart === undefined || start === undefined || start === owner.procStart;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the drafts of lock files (see tryCreate) whose writer died before publishing or
 * removing them, and returns their names. Called under the lock, by recovery.
 */
export async function removeDeadLockDrafts(layout: Layout): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(layout.stateDir).catch(() => [] as string[]);
  for (const name of names) {
    const writer = /^lock(?:\.takeover)?\.(\d+)-[0-9a-f]+\.tmp$/.exec(name)?.[1];
    if (writer === undefined || processExists(Number(writer))) continue;
    await unlink(join(layout.stateDir, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot (Linux only). */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined; // not Linux, or the process is gone: liveness falls back to kill(0)
  }
}
