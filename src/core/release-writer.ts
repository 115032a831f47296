/**
 * Writes the entries of a release archive into its fresh staging dir, once the entry rules of
 * stage.ts have accepted each one (docs/performance.md, "Staging").
 *
 * node-tar's own unpacker cannot assume what staging guarantees, so for every entry it makes
 * each directory of the path again (a failing mkdir and an lstat per component) and lstats the
 * target: about 12 syscalls per file, and a thrown EEXIST error object per component, which
 * was most of the CPU time of staging a node_modules tree. Here the staging dir is new, private
 * to this run (releases/ is root's), and the rules have already refused every entry that is
 * absolute, has "..", is stored twice, or lies at or under a symlink stored before it. So a
 * directory made (or found to be a real one) once stays one, and is remembered; a file is
 * created with O_EXCL|O_NOFOLLOW, so it can never land on or through anything already there.
 * A file costs openat + write + futimens + close, as with GNU tar.
 */
import {closeSync, constants, futimesSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, writeSync} from 'node:fs';
import {join, posix} from 'node:path';

import type {ReadEntry} from 'tar';

import {releasePath} from './release-manifest.js';

const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class ReleaseWriter {
  /** Paths (relative to the root) known to be directories: made here, or found as real directories. */
  private readonly dirs = new Set<string>(['.']);
  /** The file being written, closed on failure. */
  private open: number | undefined;

  /** `fail` is told the first error of a file whose data arrives after write() returned. */
  constructor(
    private readonly root: string,
    private readonly fail: (error: unknown) => void,
  ) {}

  /**
   * Writes one accepted entry; its data, if any, follows through the entry's events. Modes are
   * final: the caller runs this under umask 022 (stage.ts, withReleaseUmask).
   */
  write(entry: ReadEntry, mode: number): void {
    const path = releasePath(entry.path);
    const absolute = join(this.root, path);
    if (entry.type === 'Directory') {
      this.directory(path, mode);
      entry.resume();
      return;
    }
    this.directory(posix.dirname(path), 0o755);
    if (entry.type === 'SymbolicLink') {
      symlinkSync(entry.linkpath!, absolute);
      entry.resume();
    } else if (entry.type === 'Link') {
      linkSync(join(this.root, releasePath(entry.linkpath!)), absolute);
      entry.resume();
    } else {
      this.file(entry, absolute, mode);
    }
  }

  /** Closes a file left open by an archive cut off mid-entry. */
  close(): void {
    if (this.open === undefined) return;
    closeSync(this.open);
    this.open = undefined;
  }

  private file(entry: ReadEntry, absolute: string, mode: number): void {
    const fd = openSync(absolute, CREATE_FILE, mode);
    this.open = fd;
    let failed = false;
    entry.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        writeSync(fd, chunk, 0, chunk.length);
      } catch (error) {
        failed = true;
        this.close();
        this.fail(error);
      }
    });
    entry.on('end', () => {
      if (failed) return;
      try {
        if (entry.mtime !== undefined) futimesSync(fd, entry.atime ?? entry.mtime, entry.mtime);
      } catch (error) {
        this.fail(error);
      } finally {
        this.close();
      }
    });
  }

  /** Makes `path` and its missing parents, each once; an existing non-directory is an error. */
  private directory(path: string, mode: number): void {
    if (this.dirs.has(path)) return;
    this.directory(posix.dirname(path), 0o755);
    const absolute = join(this.root, path);
    try {
      mkdirSync(absolute, mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Only an entry listed after its own children gets here; a link or file of that name was refused or is an error.
      const found = lstatSync(absolute);
      if (!found.isDirectory()) {
        throw Object.assign(new Error(`${path} is in the archive both as a directory and as a ${found.isSymbolicLink() ? 'symlink' : 'file'}`), {code: 'TAR_ENTRY_ERROR', tarCode: 'TAR_ENTRY_ERROR', path});
      }
    }
    this.dirs.add(path);
  }
}
