import {randomBytes} from 'node:crypto';
import {lstat, rename, rm, symlink} from 'node:fs/promises';
import {join} from 'node:path';

import {RefusedError} from './errors.js';
import {fsyncDir} from './fsync.js';
import type {Layout} from './layout.js';

/**
 * Re-aims `current` at `releases/v<version>` atomically: a new link under a temp name is
 * renamed over the old one (what `mv -T` does), so there is never a moment with no
 * `current`. Never delete-then-create.
 */
export async function swapCurrent(layout: Layout, version: string): Promise<void> {
  const target = layout.currentTarget(version);
  const existing = await lstat(layout.currentLink).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined && !existing.isSymbolicLink()) {
    throw new RefusedError(`${layout.currentLink} exists and is not a symlink; parako will not replace it`, {
      next: 'move it aside by hand (it may be a manual install), then run parako again; nothing was changed',
    });
  }
  const temp = join(layout.dir, `current.tmp-${randomBytes(4).toString('hex')}`);
  await symlink(target, temp);
  try {
    await rename(temp, layout.currentLink);
  } catch (error) {
    await rm(temp, {force: true});
    throw error;
  }
  // The rename is atomic but not durable until the directory itself is synced.
  await fsyncDir(layout.dir);
}
