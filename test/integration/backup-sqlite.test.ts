/**
 * The SQLite backup plugin (plugins/backup-sqlite) through the real CLI and the real Debian
 * `sqlite3`: before a release whose migration alters a table is swapped in, the database (in
 * WAL mode, as apps run it) is copied online with `.backup`, the copy passes integrity_check,
 * holds the pre-migration schema and rows — also while another process keeps inserting — and
 * the recorded restore command puts it back after a migration that failed.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process';
import {chmod, chown, mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {fileURLToPath} from 'node:url';

import {afterEach, describe, expect, it} from 'vitest';

import {lookupUser} from '../../src/core/exec.js';
import {formatSize} from '../../src/sdk/text.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';
import {currentTarget, exists, expectExit, expectUnchanged, explain, history, jsonOf, parako, snapshotInstall, useSignedWorlds} from './helpers.js';

const PLUGIN = '@parako/plugin-backup-sqlite';
const PLUGIN_ROOT = fileURLToPath(new URL('../../plugins/backup-sqlite', import.meta.url));
const BACKUP_NAME = /^demo-app-pre-v1\.1\.0-\d{4}-\d{2}-\d{2}T\d{6}Z\.db$/;
/** Where the app keeps its database, relative to the install dir (backup.path). */
const DB_PATH = 'runtime/data/app.db';

/** .ci/run installs sqlite3; on a developer machine it may be missing. */
const sqliteMissing = ((): string | false => {
  try {
    execFileSync('sqlite3', ['-version'], {stdio: 'ignore'});
    return false;
  } catch {
    return 'no sqlite3 on PATH (apt-get install sqlite3, as .ci/run does)';
  }
})();
if (sqliteMissing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide sqlite3: ${sqliteMissing}`);
}

const worlds = useSignedWorlds();
const writers: ChildProcess[] = [];

afterEach(async () => {
  for (const writer of writers.splice(0)) await stopWriter(writer);
});

interface SqliteWorld {
  world: SignedWorld;
  env: Record<string, string>;
  db: string;
  backups: string;
}

/** `sqlite3 <db> <commands…>`, its stdout trimmed. */
function sql(db: string, ...commands: string[]): string {
  return execFileSync('sqlite3', ['-bail', db, '.timeout 10000', ...commands], {encoding: 'utf8'}).trim();
}

/**
 * v1.0.0 installed with `backup: {type: "sqlite"}`, the plugin linked the way
 * `parako plugins link` does, and the app's database: WAL mode, a `notes` table with `rows`
 * rows (padded, so a large one takes the backup more than one step).
 */
async function sqliteWorld(opts: {rows?: number; config?: Record<string, unknown>; createDb?: boolean} = {}): Promise<SqliteWorld> {
  const world = await worlds.make();
  await world.writeConfig({backup: {type: 'sqlite', path: DB_PATH}, ...opts.config});
  const dataDir = join(world.root, 'oclif-data');
  await mkdir(dataDir, {recursive: true});
  const pjson = {private: true, oclif: {schema: 1, plugins: [{type: 'link', name: PLUGIN, root: PLUGIN_ROOT}]}};
  await writeFile(join(dataDir, 'package.json'), JSON.stringify(pjson, null, 2));
  const env = {PARAKO_DATA_DIR: dataDir};
  const db = join(world.dir, DB_PATH);
  if (opts.createDb !== false) {
    await mkdir(join(world.dir, 'runtime', 'data'), {recursive: true});
    expect(sql(db, 'PRAGMA journal_mode=WAL')).toBe('wal');
    sql(
      db,
      'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)',
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${opts.rows ?? 3}) INSERT INTO notes (body, at) SELECT 'note ' || x || ' ' || hex(randomblob(200)), 0 FROM n`,
    );
  }
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update'], {env}), 0);
  return {world, env, db, backups: join(world.dir, 'backups')};
}

/** A migration that alters the notes table. */
function addColumn(db: string): string {
  return `sqlite3 '${db}' '.timeout 10000' 'ALTER TABLE notes ADD COLUMN archived INTEGER NOT NULL DEFAULT 0'`;
}

function columns(db: string): string[] {
  return sql(db, 'SELECT name FROM pragma_table_info(\'notes\') ORDER BY cid').split('\n');
}

async function backupFiles(folder: string): Promise<string[]> {
  return (await readdir(folder).catch(() => [])).sort();
}

/**
 * Another process inserting rows, one transaction each, as fast as sqlite3 starts, until it is
 * stopped (bounded to two minutes in case a test dies without stopping it).
 */
function startWriter(db: string): ChildProcess {
  const loop = `end=$(( $(date +%s) + 120 )); while [ $(date +%s) -lt $end ]; do sqlite3 "$1" '.timeout 10000' "INSERT INTO notes (body, at) VALUES ('written during the update', CAST(strftime('%s','now') AS INTEGER))" || echo "insert failed" >&2; done`;
  const writer = spawn('sh', ['-c', loop, 'writer', db], {stdio: ['ignore', 'ignore', 'pipe']});
  writer.stderr.setEncoding('utf8');
  writer.stderr.on('data', (chunk: string) => ((writer as ChildProcess & {errors?: string}).errors = `${(writer as ChildProcess & {errors?: string}).errors ?? ''}${chunk}`));
  writers.push(writer);
  return writer;
}

async function stopWriter(writer: ChildProcess): Promise<void> {
  if (writer.exitCode !== null || writer.signalCode !== null) return;
  const exited = new Promise((resolve) => writer.once('exit', resolve));
  writer.kill('SIGTERM');
  await exited;
}

describe.skipIf(sqliteMissing !== false)(`SQLite backups before a migration${sqliteMissing ? ` (skipped: ${sqliteMissing})` : ''}`, () => {
  it('a migration that alters a table runs only after a 0600 backup that holds the pre-migration schema and rows', async () => {
    const {world, env, db, backups} = await sqliteWorld({rows: 3});
    const rowsBefore = sql(db, 'SELECT id, body FROM notes ORDER BY id');
    await world.publish({version: '1.1.0', migration: {command: addColumn(db)}});
    const result = await parako(world, ['update', '--migrate'], {env});
    expectExit(result, 0);

    const files = await backupFiles(backups);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(BACKUP_NAME);
    const copy = join(backups, files[0]!);
    expect((await stat(copy)).mode & 0o777).toBe(0o600);
    expect(sql(copy, 'PRAGMA integrity_check')).toBe('ok');
    expect(columns(copy)).toEqual(['id', 'body', 'at']);
    expect(sql(copy, 'SELECT id, body FROM notes ORDER BY id')).toBe(rowsBefore);
    expect(columns(db)).toEqual(['id', 'body', 'at', 'archived']); // the migration did run, afterwards

    const last = (await history(world)).at(-1);
    expect(last).toMatchObject({to: '1.1.0', outcome: 'updated', migrationRan: true, backup: {plugin: PLUGIN, path: copy, size: (await stat(copy)).size}});
    const restore = (last?.backup as {restore: string}).restore;
    expect(restore).toBe(`cp ${copy} ${db} && rm -f ${db}-wal ${db}-shm ${db}-journal  # with demo-app stopped; start it again afterwards`);
    const size = formatSize((await stat(copy)).size);
    expect(result.stdout).toContain(`[${PLUGIN}] backed up SQLite database ${db} to ${copy}: ${size}, PRAGMA integrity_check ok\n  restore with: ${restore}`);
  });

  it("with a supervisor configured, the restore command stops and starts the app with that supervisor plugin's commands", async () => {
    const {world, env, db, backups} = await sqliteWorld({rows: 3});
    // After the first install: v1.0.0 was installed without a service to restart.
    await world.writeConfig({backup: {type: 'sqlite', path: DB_PATH}, supervisor: {type: 'systemd', units: ['demo-app.service', "demo-app-worker@it's.service"]}});
    await world.publish({version: '1.1.0', migration: {command: addColumn(db)}});
    const result = await parako(world, ['update', '--migrate', '--no-restart'], {env});
    expectExit(result, 0);

    const [name] = await backupFiles(backups);
    const copy = join(backups, name!);
    const restore = ((await history(world)).at(-1)?.backup as {restore: string}).restore;
    const units = `demo-app.service 'demo-app-worker@it'\\''s.service'`;
    expect(restore).toBe(`systemctl stop ${units} && cp ${copy} ${db} && rm -f ${db}-wal ${db}-shm ${db}-journal && systemctl start ${units}`);
    expect(result.stdout).toContain(`restore with: ${restore}`);
  });

  it('a backup taken while another process inserts rows is consistent and holds every row committed before it began', async () => {
    const {world, env, db, backups} = await sqliteWorld({rows: 20_000}); // ~6 MB: many backup steps
    await world.publish({version: '1.1.0', migration: {command: addColumn(db)}});
    const writer = startWriter(db);
    const maxBefore = async (): Promise<number> => Number(sql(db, 'SELECT max(id) FROM notes'));
    while ((await maxBefore()) < 20_010) await sleep(20); // the writer is committing
    const committedBefore = await maxBefore(); // every id up to here was committed before the update started
    const result = await parako(world, ['update', '--migrate'], {env});
    const committedAfter = await maxBefore();
    await stopWriter(writer);
    expectExit(result, 0);
    expect((writer as ChildProcess & {errors?: string}).errors ?? '', 'the writer never failed an insert').toBe('');
    expect(committedAfter, 'the writer kept inserting during the update').toBeGreaterThan(committedBefore);

    const [name] = await backupFiles(backups);
    const copy = join(backups, name!);
    expect(sql(copy, 'PRAGMA integrity_check')).toBe('ok');
    const [count, max] = sql(copy, 'SELECT count(*), max(id) FROM notes').split('|').map(Number);
    expect(max!, explain(result)).toBeGreaterThanOrEqual(committedBefore);
    expect(count, 'one snapshot: ids 1..max without a hole').toBe(max);
    expect(Number(sql(copy, `SELECT count(*) FROM notes WHERE id <= ${committedBefore}`))).toBe(committedBefore);
    expect(columns(copy)).toEqual(['id', 'body', 'at']);
  });

  it('a failing migration leaves current on the old release with exit 6 and prints the restore command, which brings the rows back', async () => {
    // A backupDir with quotes, a backslash and spaces: sqlite3's dot-command and the shell both get it quoted.
    const backupDir = join('/tmp', `parako "sqlite" it's \\ ${process.pid}-${Date.now()}`);
    const {world, env, db} = await sqliteWorld({rows: 5, config: {backupDir}});
    try {
      const rowsBefore = sql(db, 'SELECT id, body FROM notes ORDER BY id');
      await world.publish({version: '1.1.0', migration: {command: `sqlite3 '${db}' 'DELETE FROM notes' && echo "half-way, then: schema locked" >&2 && exit 3`}});
      const failed = await parako(world, ['update', '--migrate', '--json'], {env});
      expectExit(failed, 6);
      expect(jsonOf(failed)).toMatchObject({code: 6, reason: 'migration', from: '1.0.0', to: '1.1.0'});
      expect(await currentTarget(world)).toBe('releases/v1.0.0');
      expect(sql(db, 'SELECT count(*) FROM notes')).toBe('0'); // what the migration did before failing

      const [name] = await backupFiles(backupDir);
      expect(name).toMatch(BACKUP_NAME);
      const restore = ((await history(world)).at(-1)?.backup as {restore: string}).restore;
      expect(String(jsonOf(failed).message)).toContain(`restore the backup with: ${restore}`);
      execFileSync('/bin/sh', ['-c', restore]); // no supervisor here: the app is "stopped"
      expect(sql(db, 'SELECT id, body FROM notes ORDER BY id')).toBe(rowsBefore);
      expect(sql(db, 'PRAGMA integrity_check')).toBe('ok');
    } finally {
      execFileSync('rm', ['-rf', backupDir]);
    }
  });

  it('a missing database stops the update with exit 6, names the path, swaps nothing and leaves no partial backup', async () => {
    const {world, env, db, backups} = await sqliteWorld({createDb: false});
    await world.publish({version: '1.1.0', migration: {command: 'touch MIGRATED'}});
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update', '--migrate'], {env});
    expectExit(result, 6);
    expect(result.stderr).toContain(
      `pre-swap hook of ${PLUGIN} failed: the backup of SQLite database ${db} failed, so the update stops before the swap: ${db} does not exist (backup.path "${DB_PATH}" in parako.json, relative to the install dir)\nno backup was taken and nothing was changed`,
    );
    expect(result.stderr).toContain(`next: fix what ${PLUGIN} reports above, or, knowing there is then nothing to restore, update with --no-backup`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(join(world.dir, 'releases', 'v1.1.0'))).toBe(false);
    expect(await backupFiles(backups)).toEqual([]);
    expect(await exists(db)).toBe(false); // sqlite3 did not create an empty one
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
  });

  it('--dry-run names the plugin, the database and the backup path, and writes nothing', async () => {
    const {world, env, db, backups} = await sqliteWorld();
    await world.publish({version: '1.1.0', migration: {command: 'true'}});
    const result = await parako(world, ['update', '--dry-run'], {env});
    expectExit(result, 0);
    const path = join(backups, 'demo-app-pre-v1.1.0-<UTC time>.db');
    expect(result.stdout).toContain(`backup: would be taken by ${PLUGIN} of SQLite database ${db} with sqlite3 .backup to ${path}`);
    expect(result.stdout).not.toContain('would back up'); // one backup line, the plan's
    expect(await exists(backups)).toBe(false);
  });

  it('--dry-run warns that a missing database would stop the update', async () => {
    const {world, env, db} = await sqliteWorld({createDb: false});
    await world.publish({version: '1.1.0', migration: {command: 'true'}});
    const result = await parako(world, ['update', '--dry-run'], {env});
    expectExit(result, 0);
    expect(result.stdout).toContain(`[${PLUGIN}] warning: ${db} does not exist (backup.path "${DB_PATH}" in parako.json, relative to the install dir); the update would stop with code 6`);
  });

  it('a backup section with a key the plugin does not know, or without path, is refused with exit 2 before anything is fetched, naming the key', async () => {
    const {world, env} = await sqliteWorld();
    await world.writeConfig({backup: {type: 'sqlite', path: DB_PATH, file: DB_PATH}});
    const result = await parako(world, ['update', '--dry-run'], {env});
    expectExit(result, 2);
    expect(result.stderr).toMatch(/backup: .*"file"/);
    expect(result.stdout).not.toContain('downloaded');
    await world.writeConfig({backup: {type: 'sqlite'}});
    const missing = await parako(world, ['update', '--dry-run'], {env});
    expectExit(missing, 2);
    expect(missing.stderr).toContain('backup.path: ');
  });

  it('a release without a migration takes no backup', async () => {
    const {world, env, backups} = await sqliteWorld();
    await world.publish({version: '1.1.0'});
    expectExit(await parako(world, ['update'], {env}), 0);
    expect(await exists(backups)).toBe(false);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', backup: null});
  });
});

/** The name a backup taken at `at` gets (backupPath's UTC stamp, to the second). */
function backupNameAt(at: Date): string {
  return `demo-app-pre-v1.1.0-${at.toISOString().replaceAll(/[:.]/g, '').replace(/\d{3}Z$/, 'Z')}.db`;
}

/** Runs a shell script as the test user: another local user, the way the app user would. */
function asTestUser(script: string, ...args: string[]): void {
  const {uid, gid} = lookupUser(TEST_USER);
  execFileSync('sh', ['-c', script, 'sh', ...args], {uid, gid, cwd: '/'});
}

const userMissing = sqliteMissing === false ? testUserMissing() : sqliteMissing;

describe.skipIf(userMissing !== false)(`a backupDir another user can write is refused before anything is dumped${userMissing ? ` (skipped: ${userMissing})` : ''}`, () => {
  it('links the app user plants in its runtime/ for the coming minutes are not written through: the root-only file is unchanged and the update refused', async () => {
    const {world, env} = await sqliteWorld({rows: 3, config: {backupDir: 'runtime/backups'}});
    await chmod(world.root, 0o711); // the app user can reach the install dir, as on a host
    const secret = join(world.root, 'root-only.conf');
    await writeFile(secret, 'root password: hunter2\n', {mode: 0o600});
    const runtime = join(world.dir, 'runtime');
    const appUser = lookupUser(TEST_USER);
    await chown(runtime, appUser.uid, appUser.gid); // runtime/ is the app user's
    // The app user plants <name>.db.partial -> the root-only file for every second of the next two minutes.
    const start = Date.now();
    const names = Array.from({length: 125}, (_, second) => `${backupNameAt(new Date(start + (second - 5) * 1000))}.partial`);
    asTestUser('mkdir -p "$1/backups" && cd "$1/backups" && target=$2 && shift 2 && for name in "$@"; do ln -s "$target" "$name"; done', runtime, secret, ...names);
    const planted = await backupFiles(join(runtime, 'backups'));
    expect(planted).toHaveLength(names.length);
    await world.publish({version: '1.1.0', migration: {command: 'true'}});

    const result = await parako(world, ['update', '--migrate'], {env});

    expect(await readFile(secret, 'utf8'), 'the root-only file was not written through the link').toBe('root password: hunter2\n');
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
    expectExit(result, 6);
    expect(result.stderr).toContain(`backupDir ${join(runtime, 'backups')}`);
    expect(result.stderr).toContain(`${runtime} (owner ${TEST_USER}, mode 0755) belongs to another user`);
    expect(result.stderr).toContain('nothing was dumped');
    expect(result.stderr).toMatch(/next: .*point backupDir in parako\.json at a folder only root can write/);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await backupFiles(join(runtime, 'backups')), 'no backup file and no other file beside the planted links').toEqual(planted);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', outcome: 'failed', code: 6, backup: null, migrationRan: false});
  });

  it('a backupDir under a group-writable folder is refused by the dry run and by the update, naming the folder, its owner and mode', async () => {
    const {world, env} = await sqliteWorld({rows: 3});
    const shared = join(world.root, 'shared');
    await mkdir(shared);
    await chown(shared, 0, lookupUser(TEST_USER).gid);
    await chmod(shared, 0o775);
    const backupDir = join(shared, 'backups');
    await world.writeConfig({backup: {type: 'sqlite', path: DB_PATH}, backupDir});
    await world.publish({version: '1.1.0', migration: {command: 'true'}});

    const planned = await parako(world, ['update', '--dry-run'], {env});
    expectExit(planned, 6);
    expect(planned.stderr).toContain(`post-verify hook of ${PLUGIN} refused: backupDir ${backupDir} is not safe for root to write in: ${shared} (owner root, mode 0775) is writable by its group`);
    expect(planned.stderr).toContain(`next: point backupDir in parako.json at a folder only root can write (the default is backups/ in the install dir), or make ${shared} root's alone: chown root:root ${shared} && chmod go-w ${shared}`);

    const result = await parako(world, ['update', '--migrate', '--json'], {env});
    expectExit(result, 6);
    expect(jsonOf(result)).toMatchObject({code: 6, reason: 'hook', from: '1.0.0', to: '1.1.0'});
    expect(String(jsonOf(result).message)).toContain(`pre-swap hook of ${PLUGIN} refused: backupDir ${backupDir}`);
    expect(await exists(backupDir), 'nothing was created in it').toBe(false);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a 0700 root-owned backupDir works: one 0600 backup, no .partial left beside it', async () => {
    const {world, env, db} = await sqliteWorld({rows: 3});
    const vault = join(world.root, 'vault');
    await mkdir(vault, {mode: 0o700});
    await world.writeConfig({backup: {type: 'sqlite', path: DB_PATH}, backupDir: vault});
    await world.publish({version: '1.1.0', migration: {command: addColumn(db)}});
    const result = await parako(world, ['update', '--migrate'], {env});
    expectExit(result, 0);
    const files = await backupFiles(vault);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(BACKUP_NAME);
    expect((await stat(join(vault, files[0]!))).mode & 0o777).toBe(0o600);
    expect(sql(join(vault, files[0]!), 'PRAGMA integrity_check')).toBe('ok');
  });
});
