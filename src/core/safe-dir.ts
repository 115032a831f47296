/**
 * Folders root writes into must be folders no other user can change. A user who may write a
 * folder can plant a symlink there under a name parako is about to create, and root would then
 * write through it (over /etc/shadow, say); one who may write a folder above it can swap the
 * whole folder for a link. So every folder on the path, from `/` down, must belong to root or
 * to parako's own user and be writable by nobody else.
 */
import {execFileSync} from 'node:child_process';
import {lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, type Stats} from 'node:fs';
import {dirname, join, resolve, sep} from 'node:path';

import {RefusedError} from './errors.js';

/** A folder (or symlink) on a path that a user other than root or parako's own could change. */
export interface UnsafeFolder {
  path: string;
  owner: string;
  /** Permission bits, sticky bit included. */
  mode: number;
  /** What makes it unsafe, in the operator's words: "is writable by its group". */
  why: string;
  isLink: boolean;
}

/** How many symlinks a path may go through before it is refused, as the kernel's ELOOP. */
const MAX_LINKS = 40;

/**
 * The first folder or symlink on `dir`'s path, from `/` down, that another user could change,
 * or undefined when there is none. A sticky folder above (`/tmp`, mode 1777) is accepted: others
 * may add names there but cannot rename or remove root's, and the folder below it is checked
 * in turn. `dir` itself must not be writable by others at all, sticky or not. The part of the
 * path that does not exist yet is fine: parako creates it, mode 0700, under a folder that passed.
 */
export function findUnsafeFolder(dir: string, links = 0): UnsafeFolder | undefined {
  const names = resolve(dir).split(sep).filter((name) => name !== '');
  let at = '/';
  for (let index = -1; index < names.length; index++) {
    const path = index < 0 ? '/' : join(at, names[index]!);
    const info = lstatOrUndefined(path);
    if (info === undefined) return undefined;
    const why = whyUnsafe(info, index === names.length - 1);
    if (why !== undefined) return {path, owner: userName(info.uid), mode: info.mode & 0o7777, why, isLink: info.isSymbolicLink()};
    if (info.isSymbolicLink()) {
      // The link is root's; where it leads is checked like the rest, through any further links.
      if (links >= MAX_LINKS) return {path, owner: userName(info.uid), mode: 0o777, why: `leads through more than ${MAX_LINKS} symlinks`, isLink: true};
      return findUnsafeFolder(join(resolve(dirname(path), readlinkSync(path)), ...names.slice(index + 1)), links + 1);
    }
    if (!info.isDirectory()) return undefined; // not a folder: creating anything under it fails on its own
    at = path;
  }
  return undefined;
}

/**
 * The first entry that another user could change in the tree at `root` or on the way to it:
 * the path from `/` as findUnsafeFolder judges it, then every file, folder and symlink below,
 * none of which may belong to another user or be writable by group or others (a sticky folder
 * inside the tree is refused too: others could add a module under a name yet to be loaded).
 * A symlink that leads out of the tree is followed: its target and the path to it are judged
 * alike. `skip` names folders below `root` that are judged on their own (each plugin of a store).
 */
export function findUnsafeInTree(root: string, skip: ReadonlySet<string> = new Set()): UnsafeFolder | undefined {
  const onPath = findUnsafeFolder(root);
  if (onPath !== undefined) return onPath;
  const real = realOrUndefined(root);
  if (real === undefined) return undefined;
  const seen = new Set<string>([real]);
  const pending = [real];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (skip.has(path)) continue;
      const info = lstatOrUndefined(path);
      if (info === undefined) continue; // removed while we looked: nothing there to load
      const why = whyUnsafe(info, true);
      if (why !== undefined) return {path, owner: userName(info.uid), mode: info.mode & 0o7777, why, isLink: info.isSymbolicLink()};
      if (info.isDirectory()) {
        seen.add(path);
        pending.push(path);
      } else if (info.isSymbolicLink()) {
        const target = realOrUndefined(path);
        if (target === undefined || seen.has(target) || isInside(target, real)) continue; // dangling, or judged with the tree
        const outside = findUnsafeFolder(target);
        if (outside !== undefined) return outside;
        seen.add(target);
        if (lstatSync(target).isDirectory()) pending.push(target);
      }
    }
  }
  return undefined;
}

/** `(owner parako-test, mode 0775) is writable by its group`: the words every refusal uses. */
export function describeUnsafe(found: UnsafeFolder): string {
  return `${found.path} (owner ${found.owner}, mode ${modeString(found.mode)}) ${found.why}`;
}

/**
 * Creates `dir` (mode 0700) or checks the one there, for parako's own state (`.parako/`): it
 * must be a real folder, not a symlink, that belongs to root (or parako's user) and that nobody
 * else may write. Anything else is refused (exit 5) before a file is written in it.
 */
export function ensurePrivateDir(dir: string): void {
  // Looked at before mkdir, which would follow a (dangling) link; and again after, in case one was planted meanwhile.
  if (lstatOrUndefined(dir) === undefined) mkdirSync(dir, {recursive: true, mode: 0o700});
  const info = lstatSync(dir);
  if (info.isSymbolicLink()) {
    throw new RefusedError(`${dir} is a symlink (to ${readlinkSync(dir)}), not a folder of parako's own; nothing was written through it`, {
      next: `find out who made it (ls -l ${dirname(dir)}), then remove it: rm ${dir}; parako creates the folder itself, mode 0700`,
    });
  }
  if (!info.isDirectory()) {
    throw new RefusedError(`${dir} is not a folder; nothing was written there`, {next: `move it aside: mv ${dir} ${dir}.aside; parako creates the folder itself, mode 0700`});
  }
  const why = whyUnsafe(info, true);
  if (why !== undefined) {
    throw new RefusedError(`${describeUnsafe({path: dir, owner: userName(info.uid), mode: info.mode & 0o7777, why, isLink: false})}; another user could plant links in it that root would write through, so nothing was written there`, {
      next: `chown root:root ${dir} && chmod 0700 ${dir}, after checking that nothing in it was planted (ls -la ${dir})`,
    });
  }
}

/** Why another user could change this entry, or undefined when only root (or we) can. */
function whyUnsafe(info: Stats, isTarget: boolean): string | undefined {
  if (info.uid !== 0 && info.uid !== process.getuid?.()) return info.isSymbolicLink() ? 'is a symlink that belongs to another user' : 'belongs to another user';
  if (info.isSymbolicLink()) return undefined; // a link's own mode means nothing
  if ((info.mode & 0o022) === 0) return undefined;
  // In a sticky folder others cannot rename or remove root's entries: safe above the target.
  if ((info.mode & 0o1000) !== 0 && !isTarget) return undefined;
  return `is writable by ${(info.mode & 0o002) !== 0 ? 'all users' : 'its group'}${(info.mode & 0o1000) !== 0 ? ' (the sticky bit does not stop them creating names in it)' : ''}`;
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

function realOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The user's name from the system's user database, or the bare uid. */
function userName(uid: number): string {
  try {
    return execFileSync('getent', ['passwd', String(uid)], {encoding: 'utf8'}).split(':')[0] || String(uid);
  } catch {
    return String(uid); // no such user (a uid from a deleted account): the number is all there is
  }
}

function modeString(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}
