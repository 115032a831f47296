import {mkdir, open, rename, rm, stat} from 'node:fs/promises';
import {dirname, isAbsolute, join} from 'node:path';

import {fsyncDir} from './fsync.js';

export interface BackupTarget {
  /** Where the finished backup will be: `<backupDir>/<app>-pre-v<version>-<UTC time>.<ext>`. */
  path: string;
  /** Where the backup tool writes; renamed to `path` only once complete and checked. */
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

/** `<backupDir>/<app>-pre-v<version>-<UTC time>.<ext>`: where a backup goes, nothing created. */
export function backupPath(name: BackupName): string {
  const folder = name.backupDir === undefined ? join(name.dir, 'backups') : isAbsolute(name.backupDir) ? name.backupDir : join(name.dir, name.backupDir);
  const at = name.at ?? new Date();
  const stamp = typeof at === 'string' ? at : at.toISOString().replaceAll(/[:.]/g, '').replace(/\d{3}Z$/, 'Z');
  return join(folder, `${name.app}-pre-v${name.version}-${stamp}.${name.ext}`);
}

/**
 * The file a backup plugin writes: in `backupDir` (relative to the install dir; default
 * backups/), mode 0600, written under a temp name and renamed when complete, so a name
 * without `.partial` is always a whole backup.
 */
export async function prepareBackupFile(input: BackupName): Promise<BackupTarget> {
  const path = backupPath(input);
  await mkdir(dirname(path), {recursive: true, mode: 0o700});
  const tempPath = `${path}.partial`;
  // Created here with 0600 so the backup tool never makes it readable to others, even briefly.
  await (await open(tempPath, 'w', 0o600)).close();
  return {
    path,
    tempPath,
    async commit() {
      const size = (await stat(tempPath)).size;
      if (size === 0) throw new Error(`the backup ${tempPath} is empty`);
      const handle = await open(tempPath, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tempPath, path);
      await fsyncDir(dirname(path));
      return size;
    },
    async discard() {
      await rm(tempPath, {force: true});
    },
  };
}
