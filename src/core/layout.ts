import {lstat, readdir, readFile, readlink, rm, stat} from 'node:fs/promises';
import {basename, join, resolve} from 'node:path';
import semver from 'semver';

import {RefusedError} from './errors.js';
import {writeFileAtomic} from './fsync.js';
import {ensurePrivateDir} from './safe-dir.js';

export const DEFAULT_DIR = '/opt/parako-id';

/** Every path of the install layout (architecture.md §2), derived from the install dir. */
export class Layout {
  readonly dir: string;
  readonly releasesDir: string;
  readonly currentLink: string;
  readonly runtimeDir: string;
  readonly stateDir: string;
  readonly lockFile: string;
  readonly journalFile: string;
  readonly historyFile: string;
  readonly downloadsDir: string;
  readonly logFile: string;
  /** What parako recorded about each retained release (its size), outside the signed tree. */
  readonly releaseRecordsDir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.releasesDir = join(this.dir, 'releases');
    this.currentLink = join(this.dir, 'current');
    this.runtimeDir = join(this.dir, 'runtime');
    this.stateDir = join(this.dir, '.parako');
    this.lockFile = join(this.stateDir, 'lock');
    this.journalFile = join(this.stateDir, 'state.json');
    this.historyFile = join(this.stateDir, 'history.jsonl');
    this.downloadsDir = join(this.stateDir, 'downloads');
    this.logFile = join(this.stateDir, 'parako.log');
    this.releaseRecordsDir = join(this.stateDir, 'releases');
  }

  releaseDir(version: string): string {
    return join(this.releasesDir, releaseDirName(version));
  }

  releaseRecordFile(version: string): string {
    return join(this.releaseRecordsDir, `${releaseDirName(version)}.json`);
  }

  /** The relative target `current` points at, so the install dir can be moved or mounted elsewhere. */
  currentTarget(version: string): string {
    return join('releases', releaseDirName(version));
  }
}

export function releaseDirName(version: string): string {
  return `v${version}`;
}

export const STAGING_PREFIX = '.staging-';

/** The version `current` points at, or undefined on a fresh install. */
export async function readCurrentVersion(layout: Layout): Promise<string | undefined> {
  let target: string;
  try {
    target = await readlink(layout.currentLink);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EINVAL') {
      throw new RefusedError(`${layout.currentLink} is not a symlink`, {
        next: 'parako manages `current` as a symlink into releases/; move the directory aside (for example into releases/v<version>) and link it by hand once',
      });
    }
    throw error;
  }
  const version = versionOfReleaseDir(basename(target));
  if (version === undefined) {
    throw new RefusedError(`${layout.currentLink} points at ${target}, which is not a release directory (releases/v<version>)`);
  }
  return version;
}

export function versionOfReleaseDir(name: string): string | undefined {
  if (!name.startsWith('v')) return undefined;
  return semver.valid(name.slice(1)) ?? undefined;
}

export interface RetainedRelease {
  version: string;
  path: string;
  modifiedAt: Date;
}

/** Complete releases under releases/, newest version first. Staging dirs are never listed. */
export async function listRetained(layout: Layout): Promise<RetainedRelease[]> {
  let names: string[];
  try {
    names = await readdir(layout.releasesDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const retained: RetainedRelease[] = [];
  for (const name of names) {
    const version = versionOfReleaseDir(name);
    if (version === undefined) continue;
    const path = join(layout.releasesDir, name);
    const info = await lstat(path);
    if (info.isDirectory()) retained.push({version, path, modifiedAt: info.mtime});
  }
  return retained.sort((a, b) => semver.rcompare(a.version, b.version));
}

export async function isRetained(layout: Layout, version: string): Promise<boolean> {
  try {
    return (await lstat(layout.releaseDir(version))).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** A source checkout upgrades with git, not with parako (architecture.md §2). */
export async function refuseSourceInstall(layout: Layout): Promise<void> {
  const git = join(layout.dir, '.git');
  try {
    await stat(git);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  throw new RefusedError(`${layout.dir} is a source install (it contains .git/); parako only manages release installs`, {
    next: `upgrade it in place with: cd ${layout.dir} && git pull && pnpm install && pnpm build, then restart the service. Nothing was changed.`,
  });
}

/** A release's size as its archive declared it when it was staged: what `status` and `releases` show. */
export interface ReleaseSize {
  /** Sum of the sizes of its files (a hardlink adds nothing, a symlink its target's length). */
  bytes: number;
  /** Its entries other than directories: files, symlinks, hardlinks. */
  files: number;
}

interface ReleaseRecord extends ReleaseSize {
  version: string;
}

/**
 * Records the size stage counted for a release it staged. Written once the operation keeps the
 * release (an update that fails before its restart removes it, and its record with it).
 */
export async function recordReleaseSize(layout: Layout, version: string, size: ReleaseSize): Promise<void> {
  ensurePrivateDir(layout.releaseRecordsDir);
  const record: ReleaseRecord = {version, bytes: size.bytes, files: size.files};
  await writeFileAtomic(layout.releaseRecordFile(version), `${JSON.stringify(record)}\n`, 0o600);
}

/**
 * The recorded size of a retained release, or undefined when there is none: the release was
 * staged by an older parako, or by an update that did not finish. Nothing walks
 * the release to find out.
 */
export async function readReleaseSize(layout: Layout, version: string): Promise<ReleaseSize | undefined> {
  let text: string;
  try {
    text = await readFile(layout.releaseRecordFile(version), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const record = parseRecord(text);
  return record?.version === version ? {bytes: record.bytes, files: record.files} : undefined;
}

/** A record that does not parse counts as none: it only ever feeds what status shows. */
function parseRecord(text: string): ReleaseRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<ReleaseRecord>;
    const count = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
    return typeof value.version === 'string' && count(value.bytes) && count(value.files) ? {version: value.version, bytes: value.bytes, files: value.files} : undefined;
  } catch {
    return undefined; // not JSON: shown as an unknown size, which is all a record is for
  }
}

/**
 * Removes the records of releases no longer retained (pruned, or deleted by hand) and the temp
 * files of a record write that was killed; under the lock, so no other write is in flight.
 */
export async function removeStaleRecords(layout: Layout, retained: RetainedRelease[]): Promise<void> {
  let names: string[];
  try {
    names = await readdir(layout.releaseRecordsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const kept = new Set(retained.map((release) => `${releaseDirName(release.version)}.json`));
  for (const name of names) {
    if (!kept.has(name)) await rm(join(layout.releaseRecordsDir, name), {force: true});
  }
}
