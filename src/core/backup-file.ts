import {constants} from 'node:fs';
import {mkdir, mkdtemp, open, rename, rm} from 'node:fs/promises';
import {basename, dirname, isAbsolute, join} from 'node:path';

import type {HookContext} from '../hooks/context.js';
import type {BackupFiles} from '../sdk/provider.js';
import {HookError} from './errors.js';
import {fsyncDir} from './fsync.js';
import {describeUnsafe, findUnsafeFolder} from './safe-dir.js';

export interface BackupTarget {
  /** Where the finished backup will be: `<backupDir>/<app>-pre-v<version>-<UTC time>.<ext>`. */
  path: string;
  /**
   * Where the backup tool writes: `<path>.partial-<random>/<name>`, a 0600 file in a 0700 folder
   * parako just created, so a tool that opens it by name cannot be led elsewhere by a link.
   * Renamed to `path` only once complete and checked.
   */
  tempPath: string;
  /** fsyncs and renames the temp file into place; refuses an empty file. Returns its size. */
  commit(): Promise<number>;
  /** Removes whatever was written (a failed or empty backup leaves nothing behind). */
  discard(): Promise<void>;
}

export interface BackupName {
  /** The install dir. */
  dir: string;
  /** `backupDir` from parako.json: relative to the install dir; default backups/. */
  backupDir?: string;
  app: string;
  version: string;
  ext: string;
  /** The time in the name; a string (e.g. "<UTC time>") where a dry run only shows the pattern. */
  at?: Date | string;
}

/** The folder backups go in: `backupDir` (relative to the install dir), default backups/. */
export function backupFolder(name: Pick<BackupName, 'dir' | 'backupDir'>): string {
  if (name.backupDir === undefined) return join(name.dir, 'backups');
  return isAbsolute(name.backupDir) ? name.backupDir : join(name.dir, name.backupDir);
}

/** `<backupDir>/<app>-pre-v<version>-<UTC time>.<ext>`: where a backup goes, nothing created. */
export function backupPath(name: BackupName): string {
  const at = name.at ?? new Date();
  const stamp = typeof at === 'string' ? at : at.toISOString().replaceAll(/[:.]/g, '').replace(/\d{3}Z$/, 'Z');
  return join(backupFolder(name), `${name.app}-pre-v${name.version}-${stamp}.${name.ext}`);
}

/**
 * Refuses (exit 6, before anything is dumped) a backupDir that a user other than root could
 * change: the folder itself or any folder above it. Such a user could plant a link under the
 * backup's predictable name and have root write the dump over any file. Backup plugins call it
 * at post-verify in a dry run and first thing at pre-swap.
 */
export function refuseUnsafeBackupDir(ctx: Pick<HookContext, 'dir' | 'config' | 'point'>, plugin: string): void {
  const folder = backupFolder({dir: ctx.dir, backupDir: ctx.config.backupDir});
  const unsafe = findUnsafeFolder(folder);
  if (unsafe === undefined) return;
  const fix = unsafe.isLink ? `chown -h root:root ${unsafe.path}` : `chown root:root ${unsafe.path} && chmod ${unsafe.path === folder ? '0700' : 'go-w'} ${unsafe.path}`;
  throw new HookError(ctx.point, plugin, `${ctx.point} hook of ${plugin} refused: backupDir ${folder} is not safe for root to write in: ${describeUnsafe(unsafe)}; another user could plant a link there and have the backup written over any file, so nothing was dumped`, {
    next: `point backupDir in parako.json at a folder only root can write (the default is backups/ in the install dir), or make ${unsafe.path} root's alone: ${fix}`,
  });
}

/**
 * The file a backup plugin writes: in `backupDir` (relative to the install dir; default
 * backups/), mode 0600, written in a private folder beside it and renamed when complete, so a
 * name without `.partial` is always a whole backup.
 */
export async function prepareBackupFile(input: BackupName): Promise<BackupTarget> {
  const path = backupPath(input);
  const folder = dirname(path);
  requireSafeFolder(folder); // before mkdir, which would follow another user's link
  await mkdir(folder, {recursive: true, mode: 0o700});
  requireSafeFolder(folder); // and after: another user may have made it since the last check
  // A fresh 0700 folder of a random name: no one else can have planted anything in it.
  const privateDir = await mkdtemp(`${path}.partial-`);
  const tempPath = join(privateDir, basename(path));
  // Created here, 0600, so the backup tool never makes it readable to others, even briefly.
  await (await open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)).close();
  return {
    path,
    tempPath,
    async commit() {
      const handle = await open(tempPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      let size: number;
      try {
        size = (await handle.stat()).size;
        if (size === 0) throw new Error(`the backup ${tempPath} is empty`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tempPath, path);
      await rm(privateDir, {recursive: true, force: true}); // empty, or what the tool left beside its file
      await fsyncDir(folder);
      return size;
    },
    async discard() {
      await rm(privateDir, {recursive: true, force: true});
    },
  };
}

function requireSafeFolder(folder: string): void {
  const unsafe = findUnsafeFolder(folder);
  if (unsafe !== undefined) throw new Error(`backupDir ${folder} is not safe for root to write in: ${describeUnsafe(unsafe)}; nothing was dumped`);
}

/**
 * `ctx.backups` for one plugin at one point: where backups go, the folder check, and the
 * private file a backup tool writes (src/sdk/provider.ts, BackupFiles).
 */
export function backupFiles(ctx: Pick<HookContext, 'dir' | 'config' | 'point' | 'app' | 'to'>, plugin: string): BackupFiles {
  const name = {dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version};
  return {
    folder: backupFolder(name),
    checkFolder: () => refuseUnsafeBackupDir(ctx, plugin),
    pathFor: (ext, at) => backupPath({...name, ext, at}),
    prepare: (ext) => prepareBackupFile({...name, ext}),
  };
}
