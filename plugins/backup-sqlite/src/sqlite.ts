/**
 * The one tool this plugin drives: Debian's `sqlite3` command-line shell. `.backup` is SQLite's
 * online backup API, so the copy is consistent while the app keeps writing (a file copy of a
 * live database, or of one in WAL mode without its -wal file, is not).
 */
import {stat} from 'node:fs/promises';
import {resolve} from 'node:path';

import {type HookContext, type InstallView, outputTail, type ServiceCommands, shellQuote} from 'parako';

import type {SqliteSettings} from './provides.js';

/** How long sqlite3 waits for a lock held by the app before giving up (`.timeout`, ms). */
const BUSY_TIMEOUT_MS = 10_000;

/** `backup.path` is relative to the install dir. */
export function databasePath(dir: string, path: string): string {
  return resolve(dir, path);
}

/** What `backup` in parako.json points at, for messages and the plan: `SQLite database /srv/app/runtime/data/app.db`. */
export function describeDatabase(settings: SqliteSettings, install: InstallView): string {
  return `SQLite database ${databasePath(install.dir, settings.path)}`;
}

/** A database that is not there would be created empty by sqlite3, so it is checked first. */
export async function requireDatabase(database: string, configured: string): Promise<void> {
  let found;
  try {
    found = await stat(database);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(`${database} does not exist (backup.path "${configured}" in parako.json, relative to the install dir)`);
  }
  if (!found.isFile()) throw new Error(`${database} (backup.path "${configured}") is not a file`);
}

/**
 * Copies `database` into `copy` with `.backup`. The read transaction opened first pins one
 * snapshot for the whole copy: without it, the backup API restarts from the first page whenever
 * another process commits between its steps, which a busy app can do forever. In WAL mode the
 * app keeps writing meanwhile; in rollback-journal mode its commits wait for the copy.
 */
export async function backupDatabase(ctx: HookContext, database: string, copy: string): Promise<void> {
  const result = await sqlite3(ctx, database, [`.timeout ${BUSY_TIMEOUT_MS}`, 'BEGIN', 'SELECT count(*) FROM sqlite_schema', `.backup ${dotCommandArgument(copy)}`, 'COMMIT']);
  if (result.code !== 0) throw new Error(`sqlite3 .backup failed (exit ${result.code})${outputTail(result.stderr, [], 5)}`);
}

/** The copy must answer `PRAGMA integrity_check` with exactly "ok". */
export async function checkIntegrity(ctx: HookContext, copy: string): Promise<string> {
  const result = await sqlite3(ctx, copy, ['PRAGMA integrity_check']);
  const answer = result.stdout.trim();
  if (result.code !== 0 || answer !== 'ok') {
    const problems = answer === '' ? outputTail(result.stderr, [], 5) : `: ${answer.split('\n').slice(0, 5).join('; ')}`;
    throw new Error(`the copy failed PRAGMA integrity_check (exit ${result.code})${problems}`);
  }
  return 'PRAGMA integrity_check ok';
}

/**
 * The shell commands that put the backup back: stop the app, copy the backup over the
 * database (cp onto the existing file keeps its owner and mode), remove the -wal/-shm/-journal
 * files (SQLite would otherwise replay them onto the restored file), start the app. The
 * supervisor plugin says how to stop and start it; without one, the operator does.
 */
export function restoreCommand(backup: string, database: string, app: string, service?: ServiceCommands): string {
  const copyBack = [`cp ${shellQuote(backup)} ${shellQuote(database)}`, `rm -f ${['-wal', '-shm', '-journal'].map((suffix) => shellQuote(`${database}${suffix}`)).join(' ')}`];
  if (service === undefined) return `${copyBack.join(' && ')}  # with ${app} stopped; start it again afterwards`;
  return [service.stop, ...copyBack, service.start].join(' && ');
}

/**
 * A file name as one argument of a sqlite3 dot-command. The shell's dot-command parser ends a
 * '…' argument at the next ' with no escape (so '' does not work), but reads "…" with
 * C-style backslash escapes.
 */
export function dotCommandArgument(path: string): string {
  if (/[\0-\x1f]/.test(path)) throw new Error(`cannot hand sqlite3 a file name with control characters: ${JSON.stringify(path)}`);
  return `"${path.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** `sqlite3 -bail <db> <command>…`: each argument is one SQL statement or dot-command. */
async function sqlite3(ctx: HookContext, database: string, commands: string[]) {
  try {
    return await ctx.exec('sqlite3', ['-bail', database, ...commands]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('sqlite3 is not installed (on Debian: apt-get install sqlite3)');
    throw error;
  }
}
