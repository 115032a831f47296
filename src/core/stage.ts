import {randomBytes} from 'node:crypto';
import {createReadStream, lstatSync, readlinkSync} from 'node:fs';
import {chmod, lstat, mkdir, rename, rm} from 'node:fs/promises';
import {join, posix} from 'node:path';
import {performance} from 'node:perf_hooks';
import type {TransformOptions} from 'node:stream';
import {createGunzip, type ZlibOptions} from 'node:zlib';
import {Parser, type ReadEntry} from 'tar';

import {DiskFullError, InterruptedError, ParakoError, StageError, UnsafeArchiveError} from './errors.js';
import {fsyncDir, syncTree, type TreeFlush} from './fsync.js';
import {type Layout, type ReleaseSize, STAGING_PREFIX, releaseDirName} from './layout.js';
import type {Logger} from './logger.js';
import {checkManifestBinding, checkSameManifest, type ReleaseManifest, readManifestFromDir, releasePath} from './release-manifest.js';
import {ReleaseWriter} from './release-writer.js';
import {pauseForTests} from './test-pause.js';

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
  /** The release.json read from the artifact before staging, as the plan and the prompt showed it. */
  shown: ReleaseManifest;
  /** Aborted on SIGINT/SIGTERM: staging stops within a fraction of a second and removes what it wrote. */
  signal?: AbortSignal;
  /** Told the staging dir's path before anything is written there, so a crash can be cleaned up. */
  onStagingDir?: (path: string) => Promise<void>;
  /** Told at debug level how the release was made durable (one syncfs, or an fsync of each file). */
  log?: Logger;
}

export interface StagedRelease {
  path: string;
  manifest: ReleaseManifest;
  /** True when a complete release dir of this version was already there. */
  reused: boolean;
  /** How the staged files were made durable; absent when a retained release was reused. */
  flush?: TreeFlush;
  /** Counted during the extraction; absent when a retained release was reused. */
  size?: ReleaseSize;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

const REFUSED = 'the signed release contains something parako never extracts: tell the publisher';

/**
 * Extracts a verified artifact into `releases/.staging-v<ver>-<random>`, refusing anything
 * that could write outside the release or onto a device, then makes it durable (one syncfs of
 * its filesystem, or an fsync of every file) and renames it to `releases/v<ver>`, so a name
 * without `.staging` is always complete.
 */
export async function stageRelease(req: StageRequest): Promise<StagedRelease> {
  const {layout, version} = req;
  const finalDir = layout.releaseDir(version);
  if (await isDirectory(finalDir)) {
    const manifest = await readManifestFromDir(finalDir);
    checkManifestBinding(manifest, req.app, version, `retained ${releaseDirName(version)}`);
    checkSameManifest(req.shown, manifest, `retained ${releaseDirName(version)}`);
    return {path: finalDir, manifest, reused: true};
  }
  await mkdir(layout.releasesDir, {recursive: true, mode: 0o755});
  const stagingDir = join(layout.releasesDir, `${STAGING_PREFIX}${releaseDirName(version)}-${randomBytes(4).toString('hex')}`);
  await req.onStagingDir?.(stagingDir);
  const stopIfSignalled = (): void => {
    if (req.signal?.aborted === true) {
      throw new InterruptedError(`staging v${version} interrupted; the staging dir was removed`, {next: 'run parako update again when ready; nothing was installed'});
    }
  };
  try {
    await mkdir(stagingDir, {mode: 0o755});
    await chmod(stagingDir, 0o755); // the release root, like every dir in it, whatever the umask
    const {size, symlinks} = await extractSafely(req.artifact, stagingDir, req.limits, stopIfSignalled);
    await refuseEscapingLinks(stagingDir, symlinks, stopIfSignalled);
    const manifest = await readManifestFromDir(stagingDir);
    checkManifestBinding(manifest, req.app, version, 'the artifact');
    checkSameManifest(req.shown, manifest, 'the staged release');
    // Every byte and entry of the tree is on disk before it gets a name that says "complete".
    const flush = await syncTree(stagingDir, {stopIfSignalled, signal: req.signal, log: req.log});
    await rename(stagingDir, finalDir);
    await fsyncDir(layout.releasesDir);
    return {path: finalDir, manifest, reused: false, flush, size};
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

/**
 * `update --dry-run` stages nothing, yet must refuse what staging would: every entry of the
 * artifact goes through the same rules, nothing is written. (The check of symlink chains needs
 * the links on disk, so only staging makes it.)
 */
export async function checkArchive(artifact: string, limits: StageLimits): Promise<void> {
  const rules = new EntryRules(limits);
  let refusal: UnsafeArchiveError | undefined;
  await new Promise<void>((resolve, reject) => {
    const source = createReadStream(artifact);
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const why = refusal === undefined ? rules.problem(entry.path, entry) : undefined;
        if (why !== undefined) {
          refusal = unsafe(why);
          source.destroy();
          parser.abort(refusal);
          resolve();
        }
        entry.resume();
      },
    });
    parser.on('error', (error: unknown) => {
      source.destroy();
      reject(error);
    });
    parser.on('end', () => resolve());
    source.on('error', reject);
    source.pipe(parser);
  }).catch((error: unknown) => {
    throw classifyExtractError(error);
  });
  if (refusal !== undefined) throw refusal;
}

/** Bytes read from the artifact at a time. */
const READ_SIZE = 1024 * 1024;
/**
 * Bytes of tar inflated at a time, the most the parser is handed at once: at most 512 entries
 * (a header each), a few milliseconds of work, so a signal is seen within a fraction of a
 * second whatever the archive holds (docs/performance.md, measurement 5).
 */
const INFLATE_CHUNK = 256 * 1024;
/** How long chunks are unpacked before the event loop gets a turn and a signal is looked for. */
const LOOK_EVERY_MS = 20;
/** node-tar's own limit when it inflates: more tar than this many times the gzip read is a bomb. */
const MAX_INFLATE_RATIO = 1000;

/**
 * The artifact is inflated on libuv's thread pool (zlib's streaming gunzip) while the main
 * thread parses and writes the chunk inflated before it, as `tar -xzf` runs gzip beside tar.
 * node-tar's parser gets plain tar; each entry is checked by the rules and written by
 * ReleaseWriter (release-writer.ts): synchronous writes, a few direct syscalls per file
 * instead of a dozen round trips through the thread pool, and no directory made twice
 * (docs/performance.md). Every LOOK_EVERY_MS the event loop gets a turn, so a SIGINT/SIGTERM
 * is seen and acted on (`stopIfSignalled`) within a fraction of a second.
 */
async function extractSafely(artifact: string, cwd: string, limits: StageLimits, stopIfSignalled: () => void): Promise<{size: ReleaseSize; symlinks: ReadonlySet<string>}> {
  const rules = new EntryRules(limits);
  let refusal: UnsafeArchiveError | undefined;
  let failure: unknown;
  let pauseAfterChunk = false;
  const writer = new ReleaseWriter(cwd, (error) => {
    failure ??= error;
  });
  // Plain tar only: brotli and zstd are never sniffed, and a gzip inside the gzip is refused
  // below rather than inflated a second time.
  const parser = new Parser({
    strict: true,
    brotli: false,
    zstd: false,
    onReadEntry: (entry: ReadEntry) => {
      if (refusal !== undefined || failure !== undefined) {
        entry.resume();
        return;
      }
      const why = rules.problem(entry.path, entry);
      if (why !== undefined) {
        refusal = unsafe(why);
        entry.resume();
        parser.abort(refusal);
        return;
      }
      try {
        writer.write(entry, installedMode(entry));
      } catch (error) {
        failure ??= error;
        entry.resume();
        return;
      }
      if (rules.count === 3) pauseAfterChunk = true;
    },
  });
  // strict turns every warning into an 'error' event; the first one decides.
  parser.on('error', (error: unknown) => {
    failure ??= error;
  });
  const source = createReadStream(artifact, {highWaterMark: READ_SIZE});
  // One chunk inflated ahead of the one being parsed: the pool works while the main thread does.
  const inflateOptions: ZlibOptions & TransformOptions = {chunkSize: INFLATE_CHUNK, readableHighWaterMark: 2 * INFLATE_CHUNK};
  const inflate = createGunzip(inflateOptions);
  source.on('error', (error) => inflate.destroy(error));
  source.pipe(inflate);
  let inflated = 0;
  let lastLook = performance.now();
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) {
      if (inflated === 0 && chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) throw unsafe('a gzip stream inside the gzip stream, not a tar archive');
      inflated += chunk.length;
      if (inflated > MAX_INFLATE_RATIO * Math.max(source.bytesRead, 1)) throw unsafe(`it inflates more than ${MAX_INFLATE_RATIO} times its size (a decompression bomb)`);
      withReleaseUmask(() => parser.write(chunk));
      if (refusal !== undefined || failure !== undefined) break;
      if (pauseAfterChunk) {
        pauseAfterChunk = false;
        await pauseForTests('mid-extract');
      }
      if (performance.now() - lastLook >= LOOK_EVERY_MS) {
        await yieldToEventLoop(); // the CLI's signal handler runs here
        // A file cut off here is closed by writer.close() below.
        stopIfSignalled();
        lastLook = performance.now();
      }
    }
    if (refusal === undefined && failure === undefined) withReleaseUmask(() => parser.end());
  } catch (error) {
    failure ??= error;
  } finally {
    source.destroy();
    inflate.destroy();
    writer.close();
  }
  if (refusal !== undefined) throw refusal;
  if (failure !== undefined) throw classifyExtractError(failure);
  return {size: {bytes: rules.bytes, files: rules.files}, symlinks: rules.symlinks};
}

/**
 * What a release's files and directories get, whatever the archive says: 0755 for a directory
 * or a file with any execute bit, 0644 for any other file. Never setuid, setgid, sticky or
 * writable by others; a root-run extractor must not install what a careless archive asks for.
 */
function installedMode(entry: ReadEntry): number {
  if (entry.type === 'Directory') return 0o755;
  return typeof entry.mode === 'number' && (entry.mode & 0o111) !== 0 ? 0o755 : 0o644;
}

/**
 * Runs `write` (a synchronous parse and write) with umask 022, so the modes of installedMode are the
 * modes on disk: root's umask neither widens them (umask 000) nor narrows them (027, 077).
 * Nothing else runs while `write` does, so no other file of this process is created under it.
 */
function withReleaseUmask(write: () => void): void {
  const saved = process.umask(0o022);
  try {
    write();
  } finally {
    process.umask(saved);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function unsafe(why: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`unsafe archive: ${why}; nothing was installed`, {next: REFUSED});
}

/** An error of the extraction, as the operator should see it; disk errors pass through. */
function classifyExtractError(error: unknown): unknown {
  if (error instanceof ParakoError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EACCES' || code === 'EROFS') return error;
  const tarCode = (error as {tarCode?: string}).tarCode ?? code;
  if (tarCode === 'TAR_ENTRY_ERROR' || code === 'TAR_SYMLINK_ERROR') {
    return new UnsafeArchiveError(`unsafe archive: ${(error as Error).message} (${(error as {path?: string}).path ?? 'unknown entry'}); nothing was installed`, {
      next: REFUSED,
      cause: error,
    });
  }
  return new UnsafeArchiveError(`the artifact cannot be extracted: ${(error as Error).message}; nothing was installed`, {
    next: 'the signed release is corrupt or not a gzip tarball: tell the publisher',
    cause: error,
  });
}

/**
 * The rules every entry must pass, in archive order. Checking one costs O(depth) whatever the
 * archive holds before it: the symlinks stored so far and every path seen are Sets, and an
 * entry is looked up with each of its ancestors.
 */
class EntryRules {
  /** Entries accepted so far. */
  count = 0;
  /** Of them, entries other than directories. */
  files = 0;
  /** Sum of the sizes they declare. */
  bytes = 0;
  /** The symlinks accepted, by their path in the release. */
  readonly symlinks = new Set<string>();
  private readonly paths = new Set<string>();

  constructor(private readonly limits: StageLimits) {}

  /** Why the entry must not be extracted (and the whole release refused), or undefined when it may be. */
  problem(rawPath: string, entry: ReadEntry): string | undefined {
    const why = this.entryProblem(rawPath, entry);
    if (why !== undefined) return `${why} (${JSON.stringify(rawPath)})`;
    this.count += 1;
    if (entry.type !== 'Directory') this.files += 1;
    this.bytes += entry.size ?? 0;
    if (this.count > this.limits.maxEntries) return `more than ${this.limits.maxEntries} entries`;
    if (this.bytes > this.limits.maxExtractedBytes) return `more than ${this.limits.maxExtractedBytes} bytes once extracted`;
    const path = releasePath(rawPath);
    this.paths.add(path);
    if (entry.type === 'SymbolicLink') this.symlinks.add(path);
    return undefined;
  }

  private entryProblem(rawPath: string, entry: ReadEntry): string | undefined {
    if (!ALLOWED_TYPES.has(entry.type)) return `a ${entry.type} entry`;
    if (rawPath.startsWith('/') || /^[A-Za-z]:/.test(rawPath)) return 'an absolute path';
    if (rawPath.split(/[\\/]/).includes('..')) return 'a path with ".."';
    const path = releasePath(rawPath);
    if (path === '.' && entry.type !== 'Directory') return 'an entry with no name';
    if (this.atOrUnderSymlink(path)) return 'an entry written through or over a symlink';
    // Extraction keeps the last of two entries at one path, and readers that stop early the
    // first: a release must be the same whoever reads it.
    if (this.paths.has(path)) return 'a path stored twice';
    if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
      const target = entry.linkpath ?? '';
      if (target === '' || target.startsWith('/')) return `a link to an absolute path (${target || 'empty'})`;
      // A symlink resolves from its own directory; a hardlink names a path from the archive root.
      const base = entry.type === 'SymbolicLink' ? posix.dirname(path) : '.';
      const resolved = posix.normalize(posix.join(base, target));
      if (resolved === '..' || resolved.startsWith('../')) return `a link that resolves outside the release (-> ${target})`;
      if (entry.type === 'Link' && target.split('/').includes('..')) return `a hardlink with ".." (-> ${target})`;
      if (entry.type === 'Link' && this.atOrUnderSymlink(releasePath(target))) return `a hardlink through a symlink (-> ${target})`;
    }
    return undefined;
  }

  /** `path` or one of its ancestors is a symlink stored earlier. */
  private atOrUnderSymlink(path: string): boolean {
    if (this.symlinks.size === 0) return false;
    for (let at = path; ; at = at.slice(0, at.lastIndexOf('/'))) {
      if (this.symlinks.has(at)) return true;
      if (!at.includes('/')) return false;
    }
  }
}

/**
 * The entry filter judges each link on its own text; a chain of links that each stay inside
 * can still lead out (`a/b -> ..`, `u -> a/b/..`). So once extracted, every symlink is resolved
 * through the links really on disk, and one that leaves the release is refused. The symlinks
 * are the ones the rules let through: the staging dir is ours and holds nothing else, and a
 * hardlink to a symlink was refused. Synchronous calls, a turn for the event loop every
 * LOOK_EVERY_MS, as in the extraction.
 */
async function refuseEscapingLinks(root: string, symlinks: Iterable<string>, stopIfSignalled: () => void): Promise<void> {
  let lastLook = performance.now();
  for (const path of symlinks) {
    if (resolvesOutside(root, path)) throw unsafe(`the symlink ${JSON.stringify(path)} resolves outside the release through other links`);
    if (performance.now() - lastLook >= LOOK_EVERY_MS) {
      await yieldToEventLoop();
      stopIfSignalled();
      lastLook = performance.now();
    }
  }
}

/** Follows a symlink inside `root` component by component, as the kernel would. */
function resolvesOutside(root: string, linkPath: string): boolean {
  let hops = 0;
  const follow = (stack: string[], target: string): string[] | undefined => {
    if (++hops > 40 || target.startsWith('/')) return undefined;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 0) return undefined;
        stack.pop();
        continue;
      }
      stack.push(part);
      const info = lstatSync(join(root, ...stack), {throwIfNoEntry: false});
      if (info?.isSymbolicLink() === true) {
        const next = readlinkSync(join(root, ...stack));
        stack.pop();
        const resolved = follow(stack, next);
        if (resolved === undefined) return undefined;
        stack = resolved;
      }
    }
    return stack;
  };
  const parent = linkPath.split('/').slice(0, -1);
  return follow(parent, readlinkSync(join(root, linkPath))) === undefined;
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
