/**
 * The MySQL backup plugin against a real MariaDB (Debian's mariadb-server; a throwaway server
 * for this file, see test/fixtures/mariadb.ts): before a release's migration changes the
 * schema, mariadb-dump takes a backup whose printed restore command brings the tables back;
 * a failed dump stops the update with code 6, and the password shows up nowhere.
 *
 * The plugin is linked through a data-dir `link` entry unless the CLI already bundles it.
 */
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';

import pino from 'pino';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {execCommand} from '../../src/core/exec.js';
import {repoRoot} from '../fixtures/cli.js';
import {type MariadbServer, mariadbMissing, startMariadb} from '../fixtures/mariadb.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, exists, expectExit, history, linkUnlessBundled, parako, useSignedWorlds} from './helpers.js';

const PLUGIN = '@parako/plugin-backup-mysql';
const PLUGIN_ROOT = join(repoRoot, 'plugins', 'backup-mysql');
/** What mariadb-dump is asked for after the option file and the connection (plugins/backup-mysql/src/mysql.ts). */
const DUMP_OPTIONS = ['--single-transaction', '--quick', '--routines', '--triggers', '--events', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4', '--comments'];
const log = pino({level: 'silent'});
/** A password with every character an option file treats specially: quotes, backslash, `#`, `;`, spaces. */
const PASSWORD = `S3cret "pw" \\ with #odd; 'chars'`;

const missing = await mariadbMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide MariaDB (.ci/run installs Debian's mariadb-server and mariadb-client): ${missing}`);
}

const worlds = useSignedWorlds();
let server: MariadbServer;
/** The data dir that links the plugin when it is not bundled. */
let cliEnv: Record<string, string>;
let dataDir: string;
let world: SignedWorld;
let databases = 0;


/** SQL's single-quoted string literal. */
function sqlString(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * A new database with two tables as the app left them before the upgrade, owned by the
 * account `<name>_owner` whose password is PASSWORD, written to a root-only password file.
 */
async function shopDatabase(): Promise<{database: string; user: string; passwordFile: string}> {
  const database = `shop_${++databases}`;
  const user = `${database}_owner`;
  await server.sql('mysql', `CREATE DATABASE ${database}; CREATE USER '${user}'@'%' IDENTIFIED BY ${sqlString(PASSWORD)}; GRANT ALL ON ${database}.* TO '${user}'@'%'`);
  await server.sql(database, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES (1, 'apple'), (2, 'pear'), (3, 'plum'); CREATE TABLE notes (body text); INSERT INTO notes VALUES ('keep me')`);
  const passwordFile = join(server.dir, `${database}.password`);
  await writeFile(passwordFile, `${PASSWORD}\n`, {mode: 0o600});
  return {database, user, passwordFile};
}

/** `current` runs v1.0.0 (no migration) with the mysql backup configured as `backup`. */
async function installed(backup: Record<string, unknown>): Promise<void> {
  world = await worlds.make();
  await world.writeConfig({backup});
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update'], {env: cliEnv}), 0);
}

/** The migration a release ships: SQL as root over the server's socket (unix_socket auth; migrations run as root by default). */
function sqlMigration(database: string, sql: string): string {
  return `mariadb ${server.rootArgs.join(' ')} ${database} -e "${sql}"`;
}

async function backupFiles(): Promise<string[]> {
  return (await readdir(join(world.dir, 'backups')).catch(() => [] as string[])).sort();
}

function tables(database: string): Promise<string> {
  return server.sql(database, `SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '${database}'`);
}

function rows(database: string): Promise<string> {
  return server.sql(database, `SELECT GROUP_CONCAT(id, ':', name ORDER BY id) FROM items`);
}

/** The arguments parako.log recorded for the dump program's run. */
async function loggedDumpArgs(): Promise<string[]> {
  const lines = (await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8')).split('\n').filter((line) => line !== '');
  const exec = lines.map((line) => JSON.parse(line) as {msg?: string; program?: string; args?: string[]}).find((entry) => entry.msg === 'exec' && /mariadb-dump$|mysqldump$/.test(entry.program ?? ''));
  expect(exec, 'parako.log records the dump').toBeDefined();
  return exec!.args!;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'parako-mysql-plugin-'));
  cliEnv = await linkUnlessBundled(PLUGIN, PLUGIN_ROOT, join(dataDir, 'oclif-data'));
});
afterAll(async () => {
  await rm(dataDir, {recursive: true, force: true});
});

describe.skipIf(missing !== false)(`MySQL backups with mariadb-dump${missing ? ` (skipped: ${missing})` : ''}`, () => {
  beforeAll(async () => {
    server = await startMariadb();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('backs the database up before a migration, and the printed restore command brings back what the migration dropped', async () => {
    const shop = await shopDatabase();
    await installed({type: 'mysql', database: shop.database, host: '127.0.0.1', port: server.port, user: shop.user, passwordFile: shop.passwordFile});
    expect(await backupFiles(), 'no backup without a migration').toEqual([]);
    await world.publish({version: '1.1.0', migration: {command: sqlMigration(shop.database, 'DROP TABLE notes; ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 0; UPDATE items SET name = UPPER(name)')}});

    // Root's ~/.my.cnf with another password: the client reads it after --defaults-extra-file, but passwordFile wins.
    const home = join(world.root, 'root-home');
    await mkdir(home, {mode: 0o700});
    await writeFile(join(home, '.my.cnf'), '[client]\npassword=not-this-one\n', {mode: 0o600});
    const result = await parako(world, ['update', '--migrate'], {env: {...cliEnv, HOME: home}});
    expectExit(result, 0);
    expect(await tables(shop.database)).toBe('items');
    expect(await rows(shop.database)).toBe('1:APPLE,2:PEAR,3:PLUM');

    const files = await backupFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^demo-app-pre-v1\.1\.0-\d{4}-\d\d-\d\dT\d{6}Z\.sql$/);
    const dump = join(world.dir, 'backups', files[0]!);
    expect((await stat(dump)).mode & 0o777).toBe(0o600);
    const recorded = (await history(world)).at(-1)?.backup as {plugin: string; path: string; restore: string; size: number};
    expect(recorded).toMatchObject({plugin: PLUGIN, path: dump, size: (await stat(dump)).size});
    expect(recorded.restore).toBe(`mariadb --host=127.0.0.1 --port=${server.port} --user=${shop.user} ${shop.database} < ${dump}`);
    expect(result.stdout).toContain(`backed up MySQL database ${shop.database} at 127.0.0.1:${server.port} as user ${shop.user} to ${dump}`);
    expect(result.stdout).toContain('2 tables, checked: dump completed');
    expect(result.stdout).toContain(recorded.restore);

    // The password went in an option file named first, which is gone with its folder.
    const args = await loggedDumpArgs();
    expect(args[0]).toMatch(/^--defaults-extra-file=\/.*\/client\.cnf$/);
    expect(args.slice(1)).toEqual([`--host=127.0.0.1`, `--port=${server.port}`, `--user=${shop.user}`, ...DUMP_OPTIONS, shop.database]);
    expect(await exists(dirname(args[0]!.slice('--defaults-extra-file='.length)))).toBe(false);

    // The restore command as printed, run as root, with the password in root's ~/.my.cnf.
    await writeFile(join(home, '.my.cnf'), `[client]\npassword="S3cret \\"pw\\" \\\\ with #odd; 'chars'"\n`, {mode: 0o600});
    const restored = await execCommand('/bin/sh', ['-c', recorded.restore], {env: {HOME: home}, log});
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tables(shop.database)).toBe('items,notes');
    expect(await server.sql(shop.database, 'SELECT body FROM notes')).toBe('keep me');
    expect(await rows(shop.database)).toBe('1:apple,2:pear,3:plum');

    const status = await parako(world, ['status'], {env: cliEnv});
    expectExit(status, 0);
    expect(status.stdout).toContain(recorded.restore);
  });

  it('with backup.optionFile, the dump and the restore command read the connection and password from that file', async () => {
    const shop = await shopDatabase();
    const optionFile = join(server.dir, `${shop.database}.cnf`);
    await writeFile(optionFile, `[client]\nsocket=${server.socket}\nuser=${shop.user}\npassword="S3cret \\"pw\\" \\\\ with #odd; 'chars'"\n`, {mode: 0o600});
    await installed({type: 'mysql', database: shop.database, optionFile});
    await world.publish({version: '1.1.0'});

    const result = await parako(world, ['update', '--backup'], {env: cliEnv}); // --backup: no migration declared
    expectExit(result, 0);
    const [file] = await backupFiles();
    const dump = join(world.dir, 'backups', file!);
    const recorded = (await history(world)).at(-1)?.backup as {restore: string};
    expect(recorded.restore).toBe(`mariadb --defaults-extra-file=${optionFile} ${shop.database} < ${dump}`);
    expect((await loggedDumpArgs())[0]).toBe(`--defaults-extra-file=${optionFile}`);

    await server.sql(shop.database, 'DROP TABLE notes');
    const restored = await execCommand('/bin/sh', ['-c', recorded.restore], {log});
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tables(shop.database)).toBe('items,notes');
  });

  it('with backup.runAs, the dump runs as that system user, which logs in by unix_socket without a password', async () => {
    const shop = await shopDatabase();
    // The mysql system user exists wherever the server is installed; its account has no password.
    await server.sql('mysql', `CREATE USER IF NOT EXISTS 'mysql'@'localhost' IDENTIFIED VIA unix_socket; GRANT ALL ON ${shop.database}.* TO 'mysql'@'localhost'`);
    await installed({type: 'mysql', database: shop.database, socket: server.socket, runAs: 'mysql'});
    await world.publish({version: '1.1.0'});

    const result = await parako(world, ['update', '--backup'], {env: cliEnv});
    expectExit(result, 0);
    expect(result.stdout).toContain(`backed up MySQL database ${shop.database} at ${server.socket} as system user mysql to`);
    const [file] = await backupFiles();
    const dump = join(world.dir, 'backups', file!);
    const recorded = (await history(world)).at(-1)?.backup as {restore: string};
    expect(recorded.restore).toBe(`runuser -u mysql -- mariadb --socket=${server.socket} ${shop.database} < ${dump}`);
    expect(await loggedDumpArgs()).toEqual([`--socket=${server.socket}`, ...DUMP_OPTIONS, shop.database]);

    await server.sql(shop.database, 'DROP TABLE notes');
    const restored = await execCommand('/bin/sh', ['-c', recorded.restore], {log});
    expect(restored.code, restored.stderr).toBe(0);
    expect(await tables(shop.database)).toBe('items,notes');
  });

  it('a wrong password stops the update with exit 6 before the swap: no partial file, and the password is shown nowhere', async () => {
    const shop = await shopDatabase();
    const wrong = `${PASSWORD}-wrong`;
    await writeFile(shop.passwordFile, `${wrong}\n`);
    await installed({type: 'mysql', database: shop.database, socket: server.socket, user: shop.user, passwordFile: shop.passwordFile});
    await world.publish({version: '1.1.0', migration: {command: 'touch MIGRATED'}});

    const result = await parako(world, ['update', '--migrate'], {env: cliEnv});
    expectExit(result, 6);
    expect(result.stderr).toContain(`the backup of MySQL database ${shop.database} at ${server.socket} as user ${shop.user} failed`);
    expect(result.stderr).toContain(`Access denied for user '${shop.user}'@'localhost' (using password: YES)`); // mariadb-dump's own words
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(join(world.dir, 'releases', 'v1.1.0', 'MIGRATED'))).toBe(false);
    expect(await backupFiles()).toEqual([]);

    const logFile = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    for (const text of [result.stdout, result.stderr, logFile, JSON.stringify(await history(world))]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(PASSWORD);
    }
  });

  it('--dry-run names the plugin and the path, and writes nothing', async () => {
    const shop = await shopDatabase();
    await installed({type: 'mysql', database: shop.database, socket: server.socket, user: shop.user, passwordFile: shop.passwordFile});
    await world.publish({version: '1.1.0', migration: {command: sqlMigration(shop.database, 'DROP TABLE notes')}});

    const result = await parako(world, ['update', '--migrate', '--dry-run'], {env: cliEnv});
    expectExit(result, 0);
    const path = join(world.dir, 'backups', 'demo-app-pre-v1.1.0-<UTC time>.sql');
    const planned = result.stdout.split('\n').find((line) => line.startsWith('backup: '));
    expect(planned).toBe(`backup: would be taken by ${PLUGIN} of MySQL database ${shop.database} at ${server.socket} as user ${shop.user} with mariadb-dump (or mysqldump) --single-transaction to ${path}`);
    expect(result.stdout).not.toContain('would back up'); // one backup line, the plan's
    expect(await backupFiles()).toEqual([]);
    expect(await tables(shop.database)).toBe('items,notes');
  });

  it('--no-backup updates without a backup', async () => {
    const shop = await shopDatabase();
    await installed({type: 'mysql', database: shop.database, socket: server.socket, user: shop.user, passwordFile: shop.passwordFile});
    await world.publish({version: '1.1.0', migration: {command: sqlMigration(shop.database, 'DROP TABLE notes')}});

    const result = await parako(world, ['update', '--migrate', '--no-backup'], {env: cliEnv});
    expectExit(result, 0);
    expect(result.stdout).toContain('--no-backup');
    expect(await backupFiles()).toEqual([]);
    expect((await history(world)).at(-1)?.backup).toBeNull();
    expect(await tables(shop.database)).toBe('items');
  });
});

describe('the backup section of parako.json', () => {
  it.each([
    [{type: 'mysql'}, /backup\.database: is required/],
    [{type: 'mysql', database: 'shop', pasword: 'x'}, /backup: unknown key "pasword"/],
    [{type: 'mysql', database: 'shop', password: 'x'}, /backup\.password: parako\.json never holds the password/],
    [{type: 'mysql', database: 'shop', passwordFile: 'db.password'}, /backup\.passwordFile: must be an absolute path/],
  ])('%j is refused with exit 2, naming the key', async (backup, named) => {
    world = await worlds.make();
    await world.writeConfig({backup});
    await world.publish({version: '1.0.0'});
    const result = await parako(world, ['update'], {env: cliEnv});
    expectExit(result, 2);
    expect(result.stderr).toMatch(named);
    expect(await currentTarget(world)).toBeUndefined();
  });
});
