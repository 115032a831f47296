import {randomBytes} from 'node:crypto';
import {closeSync, openSync, readSync} from 'node:fs';
import {lstat, mkdir, open, readdir, readlink, rename, rm} from 'node:fs/promises';
import {join, posix} from 'node:path';
import {type ReadEntry, UnpackSync} from 'tar';

import {DiskFullError, ParakoError, StageError, UnsafeArchiveError} from './errors.js';
import {fsyncDir} from './fsync.js';
import {type Layout, STAGING_PREFIX, releaseDirName} from './layout.js';
import {checkManifestBinding, type ReleaseManifest, readManifestFromDir} from './release-manifest.js';
import {pauseForTestsSync} from './test-pause.js';

export interface StageLimits {
  /** Sum of the sizes the archive declares; stops decompression bombs before they are written. */
  maxExtractedBytes: number;
  maxEntries: number;
}

export const DEFAULT_LIMITS: StageLimits = {maxExtractedBytes: 16 * 1024 ** 3, maxEntries: 1_000_000};

export interface StageRequest {
  layout: Layout;
  artifact: string;
  app: string;
  version: string;
  limits: StageLimits;
  /** Told the staging dir's path before anything is written there, so a crash can be cleaned up. */
  onStagingDir?: (path: string) => Promise<void>;
}

export interface StagedRelease {
  path: string;
  manifest: ReleaseManifest;
  /** True when a complete release dir of this version was already there. */
  reused: boolean;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/**
 * Extracts a verified artifact into `releases/.staging-v<ver>-<random>`, refusing anything
 * that could write outside the release or onto a device, then fsyncs and renames it to
 * `releases/v<ver>`, so a name without `.staging` is always complete.
 */
export async function stageRelease(req: StageRequest): Promise<StagedRelease> {
  const {layout, version} = req;
  const finalDir = layout.releaseDir(version);
  if (await isDirectory(finalDir)) {
    const manifest = await readManifestFromDir(finalDir);
    checkManifestBinding(manifest, req.app, version, `retained ${releaseDirName(version)}`);
    return {path: finalDir, manifest, reused: true};
  }
  await mkdir(layout.releasesDir, {recursive: true, mode: 0o755});
  const stagingDir = join(layout.releasesDir, `${STAGING_PREFIX}${releaseDirName(version)}-${randomBytes(4).toString('hex')}`);
  await req.onStagingDir?.(stagingDir);
  try {
    await mkdir(stagingDir, {mode: 0o755});
    extractSafely(req.artifact, stagingDir, req.limits);
    await refuseEscapingLinks(stagingDir);
    const manifest = await readManifestFromDir(stagingDir);
    checkManifestBinding(manifest, req.app, version, 'the artifact');
    await fsyncTree(stagingDir);
    await rename(stagingDir, finalDir);
    await fsyncDir(layout.releasesDir);
    return {path: finalDir, manifest, reused: false};
  } catch (error) {
    await removeStagingDir(stagingDir);
    if (error instanceof ParakoError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new DiskFullError(`no space left on ${layout.releasesDir} while staging v${version}; the staging dir was removed and current is untouched`, {
        next: 'free space (parako prune removes old releases), then run parako update again',
        cause: error,
      });
    }
    throw new StageError(`staging v${version} failed: ${(error as Error).message}; the staging dir was removed and current is untouched`, {cause: error});
  }
}

/** Bytes read from the artifact per write into the unpacker. */
const READ_SIZE = 4 * 1024 * 1024;

/**
 * node-tar's synchronous unpacker, fed from the artifact in READ_SIZE reads. On a release of
 * many small files it is 3–5x faster than the asynchronous one (docs/performance.md): each file
 * costs a few direct syscalls instead of a dozen round trips through libuv's thread pool. It
 * blocks the event loop for the length of the extraction; nothing else runs during stage, and
 * a signal that arrives meanwhile is acted on when it returns, before the swap.
 */
function extractSafely(artifact: string, cwd: string, limits: StageLimits): void {
  let refusal: UnsafeArchiveError | undefined;
  let failure: unknown;
  let entries = 0;
  let bytes = 0;
  const symlinks = new Set<string>();
  const refuse = (message: string): false => {
    refusal ??= new UnsafeArchiveError(`unsafe archive: ${message}; nothing was installed`, {
      next: 'the signed release contains something parako never extracts: tell the publisher',
    });
    unpack.abort(refusal);
    return false;
  };
  const unpack = new UnpackSync({
    cwd,
    strict: true,
    preserveOwner: false,
    // Entries whose parent is a symlink are refused below; node-tar's own check is the backstop.
    unlink: false,
    filter: (path: string, entry: ReadEntry | unknown) => {
      if (refusal !== undefined) return false;
      const item = entry as ReadEntry;
      const why = entryProblem(path, item, symlinks);
      if (why !== undefined) return refuse(`${why} (${JSON.stringify(path)})`);
      entries += 1;
      bytes += item.size ?? 0;
      if (entries > limits.maxEntries) return refuse(`more than ${limits.maxEntries} entries`);
      if (bytes > limits.maxExtractedBytes) return refuse(`more than ${limits.maxExtractedBytes} bytes once extracted`);
      if (item.type === 'SymbolicLink') symlinks.add(normalizeEntryPath(path));
      // A release never needs setuid, setgid or sticky bits; a root-run extractor must not keep them.
      if (typeof item.mode === 'number') item.mode &= 0o777;
      if (entries === 3) pauseForTestsSync('mid-extract');
      return true;
    },
  });
  // strict turns every warning into an 'error' event; the first one decides.
  unpack.on('error', (error: unknown) => {
    failure ??= error;
  });
  const fd = openSync(artifact, 'r');
  try {
    while (refusal === undefined && failure === undefined) {
      // A fresh buffer per read: the parser may keep a reference to a chunk it has not finished.
      const chunk = Buffer.allocUnsafe(READ_SIZE);
      const read = readSync(fd, chunk, 0, READ_SIZE, null);
      if (read === 0) {
        unpack.end();
        break;
      }
      unpack.write(read === READ_SIZE ? chunk : chunk.subarray(0, read));
    }
  } catch (error) {
    failure ??= error;
  } finally {
    closeSync(fd);
  }
  if (refusal !== undefined) throw refusal;
  if (failure !== undefined) throw classifyExtractError(failure);
}

/** An error of the extraction, as the operator should see it; disk errors pass through. */
function classifyExtractError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EACCES' || code === 'EROFS') return error;
  const tarCode = (error as {tarCode?: string}).tarCode ?? code;
  if (tarCode === 'TAR_ENTRY_ERROR' || code === 'TAR_SYMLINK_ERROR') {
    return new UnsafeArchiveError(`unsafe archive: ${(error as Error).message} (${(error as {path?: string}).path ?? 'unknown entry'}); nothing was installed`, {
      next: 'the signed release contains something parako never extracts: tell the publisher',
      cause: error,
    });
  }
  return new UnsafeArchiveError(`the artifact cannot be extracted: ${(error as Error).message}; nothing was installed`, {
    next: 'the signed release is corrupt or not a gzip tarball: tell the publisher',
    cause: error,
  });
}

function normalizeEntryPath(path: string): string {
  return posix.normalize(path.replace(/^(\.\/)+/, '')).replace(/\/$/, '');
}

/** Why an entry must not be extracted, or undefined when it is safe. */
function entryProblem(rawPath: string, entry: ReadEntry, symlinks: Set<string>): string | undefined {
  if (!ALLOWED_TYPES.has(entry.type)) return `a ${entry.type} entry`;
  if (rawPath.startsWith('/') || /^[A-Za-z]:/.test(rawPath)) return 'an absolute path';
  if (rawPath.split(/[\\/]/).includes('..')) return 'a path with ".."';
  const path = normalizeEntryPath(rawPath);
  if (path === '' || path === '.') return entry.type === 'Directory' ? undefined : 'an entry with no name';
  for (const link of symlinks) {
    if (path === link || path.startsWith(link + '/')) return 'an entry written through or over a symlink';
  }
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    const target = entry.linkpath ?? '';
    if (target === '' || target.startsWith('/')) return `a link to an absolute path (${target || 'empty'})`;
    // A symlink resolves from its own directory; a hardlink names a path from the archive root.
    const base = entry.type === 'SymbolicLink' ? posix.dirname(path) : '.';
    const resolved = posix.normalize(posix.join(base, target));
    if (resolved === '..' || resolved.startsWith('../')) return `a link that resolves outside the release (-> ${target})`;
    if (entry.type === 'Link' && target.split('/').includes('..')) return `a hardlink with ".." (-> ${target})`;
  }
  return undefined;
}

/**
 * The entry filter judges each link on its own text; a chain of links that each stay inside
 * can still lead out (`a/b -> ..`, `u -> a/b/..`). So once extracted, every symlink is resolved
 * through the links really on disk, and one that leaves the release is refused.
 */
async function refuseEscapingLinks(root: string): Promise<void> {
  const queue: string[] = [''];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    for (const entry of await readdir(join(root, dir), {withFileTypes: true})) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) queue.push(path);
      else if (entry.isSymbolicLink() && (await resolvesOutside(root, path))) {
        throw new UnsafeArchiveError(`unsafe archive: the symlink ${JSON.stringify(path)} resolves outside the release through other links; nothing was installed`, {
          next: 'the signed release contains something parako never extracts: tell the publisher',
        });
      }
    }
  }
}

/** Follows a symlink inside `root` component by component, as the kernel would. */
async function resolvesOutside(root: string, linkPath: string): Promise<boolean> {
  let hops = 0;
  const follow = async (stack: string[], target: string): Promise<string[] | undefined> => {
    if (++hops > 40 || target.startsWith('/')) return undefined;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 0) return undefined;
        stack.pop();
        continue;
      }
      stack.push(part);
      const info = await lstat(join(root, ...stack)).catch(() => undefined);
      if (info?.isSymbolicLink() === true) {
        const next = await readlink(join(root, ...stack));
        stack.pop();
        const resolved = await follow(stack, next);
        if (resolved === undefined) return undefined;
        stack = resolved;
      }
    }
    return stack;
  };
  const parent = linkPath.split('/').slice(0, -1);
  return (await follow(parent, await readlink(join(root, linkPath)))) === undefined;
}

/**
 * An aborted extraction can still have writes in flight: rm retries while they land, and a
 * last look makes sure none recreated the dir after it was gone.
 */
async function removeStagingDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    await rm(dir, {recursive: true, force: true, maxRetries: 20, retryDelay: 50});
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (!(await lstat(dir).then(() => true, () => false))) return;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** fsync every file and directory so the renamed release is complete even after a power loss. */
async function fsyncTree(root: string): Promise<void> {
  const queue: string[] = [root];
  const files: string[] = [];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    files.push(dir);
    for (const entry of await readdir(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else if (entry.isFile()) files.push(path);
    }
  }
  const workers = Array.from({length: 16}, async () => {
    for (let path = files.pop(); path !== undefined; path = files.pop()) {
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
