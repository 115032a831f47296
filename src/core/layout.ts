import {lstat, readdir, readlink, stat} from 'node:fs/promises';
import {basename, join, resolve} from 'node:path';
import semver from 'semver';

import {RefusedError} from './errors.js';

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
  }

  releaseDir(version: string): string {
    return join(this.releasesDir, releaseDirName(version));
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
