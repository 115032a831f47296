import {execFile} from 'node:child_process';
import {open, readdir, rename} from 'node:fs/promises';
import {release} from 'node:os';
import {dirname, join} from 'node:path';
import {promisify} from 'node:util';

import type {Logger} from './logger.js';

/** Durably records a directory's entries (a rename or a new file) so a power loss cannot undo them. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file durably: temp name, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await fsyncDir(dirname(file));
}

/** How a tree was made durable: one syncfs(2) of its filesystem, or an fsync of every file and directory. */
export type TreeFlush = 'syncfs' | 'fsync-each';

export interface SyncTreeOptions {
  /** Throws when the operation was signalled; called between flushes. */
  stopIfSignalled: () => void;
  /** Kills `sync -f` when aborted. */
  signal?: AbortSignal;
  log?: Logger;
}

const execFileAsync = promisify(execFile);

/**
 * Makes every file and directory under `root` durable (docs/performance.md, "Why one syncfs is
 * enough"). One syncfs(2) of root's filesystem writes back all its dirty data and metadata and
 * waits for it: a handful of syscalls whatever the tree holds. Node has no binding, so it is
 * coreutils' `sync -f`. Where that is missing or fails, or where the kernel's syncfs would not
 * report a write error, every file and directory is fsynced instead, each error reported.
 */
export async function syncTree(root: string, options: SyncTreeOptions): Promise<TreeFlush> {
  const {stopIfSignalled, log} = options;
  stopIfSignalled();
  const problem = await syncfsProblem(root, options.signal);
  stopIfSignalled();
  if (problem === undefined) {
    log?.debug({dir: root, flush: 'syncfs'}, 'made the staged release durable with one syncfs (sync -f)');
    return 'syncfs';
  }
  log?.debug({dir: root, flush: 'fsync-each', why: problem}, 'syncfs not used; fsyncing every file and directory of the staged release');
  await fsyncEach(root, stopIfSignalled);
  return 'fsync-each';
}

/**
 * Before Linux 5.8 syncfs(2) returned 0 even when writeback had failed (the per-filesystem error
 * tracking of commit 735e4ae5ba28 came in 5.8), so a lost write would go unnoticed; fsync
 * reports it on every kernel parako runs on.
 */
export function syncfsReportsErrors(kernelRelease: string): boolean {
  const match = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (match === null) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 5 || (major === 5 && minor >= 8);
}

/** Why syncfs was not used for `root`, or undefined when it ran and succeeded. */
async function syncfsProblem(root: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const kernel = release();
  if (!syncfsReportsErrors(kernel)) return `kernel ${kernel} is older than 5.8: its syncfs does not report write errors`;
  try {
    // `sync -f` runs syncfs(2) on the filesystem holding root (coreutils 8.24 and later, busybox).
    await execFileAsync('sync', ['-f', root], {signal});
    return undefined;
  } catch (error) {
    // A failed syncfs is not trusted and not fatal: the fsync of each file below reports a real
    // disk error (EIO, ENOSPC) itself, and an old `sync` without -f is no error at all.
    const failure = error as NodeJS.ErrnoException & {stderr?: string};
    if (failure.code === 'ENOENT') return 'no sync program on PATH';
    const said = typeof failure.stderr === 'string' ? failure.stderr.trim() : '';
    return `sync -f failed: ${said === '' ? failure.message : said}`;
  }
}

/** How many files are fsynced at once: enough to keep a disk's queue busy, few enough for any host. */
const FSYNC_CONCURRENCY = 16;

/** fsync every file and directory under `root`, FSYNC_CONCURRENCY at a time. */
async function fsyncEach(root: string, stopIfSignalled: () => void): Promise<void> {
  const queue: string[] = [root];
  const paths: string[] = [];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    paths.push(dir);
    for (const entry of await readdir(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else if (entry.isFile()) paths.push(path);
    }
  }
  const workers = Array.from({length: FSYNC_CONCURRENCY}, async () => {
    for (let path = paths.pop(); path !== undefined; path = paths.pop()) {
      stopIfSignalled();
      const handle = await open(path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  });
  await Promise.all(workers);
}
