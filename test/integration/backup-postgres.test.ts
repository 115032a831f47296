/**
 * The PostgreSQL backup plugin against a real PostgreSQL (Debian's postgresql package; a
 * throwaway cluster for this file, see test/fixtures/postgres.ts): before a release's
 * migration changes the schema, pg_dump takes a backup that restores the rows as they were;
 * a failed migration or a failed dump stops the update with code 6 and says what to do.
 *
 * The plugin is linked through a data-dir `link` entry unless the CLI already bundles it.
 */
import {readdir, readFile, stat} from 'node:fs/promises';
import {join} from 'node:path';

import pino from 'pino';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {execCommand} from '../../src/core/exec.js';
import {formatSize} from '../../src/sdk/text.js';
import {repoRoot} from '../fixtures/cli.js';
import {type PostgresCluster, postgresMissing, startPostgres} from '../fixtures/postgres.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, exists, expectExit, history, jsonOf, linkUnlessBundled, parako, useSignedWorlds} from './helpers.js';

const PLUGIN = '@parako/plugin-backup-postgres';
const PLUGIN_ROOT = join(repoRoot, 'plugins', 'backup-postgres');
const log = pino({level: 'silent'});

const missing = await postgresMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide PostgreSQL (.ci/run installs Debian's postgresql): ${missing}`);
}

const worlds = useSignedWorlds();
let cluster: PostgresCluster;
/** PGHOST/PGPORT of the cluster, and the data dir that links the plugin when it is not bundled. */
let cliEnv: Record<string, string>;
let world: SignedWorld;
let databases = 0;


/** A new database with a table of three rows, as the app left it before the upgrade. */
async function shopDatabase(owner = 'postgres'): Promise<string> {
  const name = `shop_${++databases}`;
  await cluster.sql('postgres', `CREATE DATABASE ${name} OWNER ${owner}`);
  await cluster.sql(name, `SET ROLE ${owner}; CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES (1, 'apple'), (2, 'pear'), (3, 'plum')`);
  return name;
}

/** `current` runs v1.0.0 (no migration) with the postgres backup configured for `database`. */
async function installed(database: string, backup: Record<string, unknown> = {type: 'postgres', database, runAs: 'postgres'}): Promise<void> {
  world = await worlds.make();
  // The migration runs as postgres with a reset environment: it reaches the cluster through migration.env.
  await world.writeConfig({backup, migration: {runAs: 'postgres', env: cluster.env}});
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update'], {env: cliEnv}), 0);
}

/** psql as the migration user: the schema change a release would ship. */
function psqlMigration(database: string, sql: string): string {
  return `psql -X -v ON_ERROR_STOP=1 -d ${database} -c "${sql}"`;
}

async function backupFiles(): Promise<string[]> {
  return (await readdir(join(world.dir, 'backups')).catch(() => [] as string[])).sort();
}

function columns(database: string): Promise<string> {
  return cluster.sql(database, `SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'items'`);
}

function rows(database: string): Promise<string> {
  return cluster.sql(database, `SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items`);
}

describe.skipIf(missing !== false)(`PostgreSQL backups${missing ? ` (skipped: ${missing})` : ''}`, () => {
  beforeAll(async () => {
    cluster = await startPostgres();
    cliEnv = {...cluster.env, ...(await linkUnlessBundled(PLUGIN, PLUGIN_ROOT, join(cluster.socketDir, 'oclif-data')))};
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('backs the database up before a migration; the dump restores the pre-migration rows into a fresh database, and its restore command undoes the migration', async () => {
    const database = await shopDatabase();
    await installed(database);
    expect(await backupFiles(), 'no backup without a migration').toEqual([]);
    await world.publish({version: '1.1.0', migration: {command: psqlMigration(database, 'ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 0; UPDATE items SET name = upper(name)')}});

    const result = await parako(world, ['update', '--migrate'], {env: cliEnv});
    expectExit(result, 0);
    expect(await columns(database)).toBe('id,name,price');
    expect(await rows(database)).toBe('1:APPLE,2:PEAR,3:PLUM');

    const files = await backupFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^demo-app-pre-v1\.1\.0-\d{4}-\d\d-\d\dT\d{6}Z\.dump$/);
    const dump = join(world.dir, 'backups', files[0]!);
    expect((await stat(dump)).mode & 0o777).toBe(0o600);
    const recorded = (await history(world)).at(-1)?.backup as {plugin: string; path: string; restore: string; size: number};
    expect(recorded).toMatchObject({plugin: PLUGIN, path: dump, size: (await stat(dump)).size});
    expect(recorded.restore).toBe(`runuser -u postgres -- pg_restore --no-owner --clean --if-exists --single-transaction --dbname=${database} < ${dump}`);
    expect(result.stdout).toContain(`[${PLUGIN}] backed up PostgreSQL database ${database} (as postgres) to ${dump}: ${formatSize(recorded.size)}, `);
    expect(result.stdout).toMatch(/, \d+ objects, checked with pg_restore --list\n {2}restore with: /);
    expect(result.stdout).toContain(`restore with: ${recorded.restore}`);

    // Into a fresh database: the schema and rows from before the migration.
    const fresh = `${database}_restored`;
    await cluster.sql('postgres', `CREATE DATABASE ${fresh}`);
    const restored = await execCommand('pg_restore', ['--no-owner', '-U', 'postgres', '-d', fresh, dump], {env: cluster.env, log});
    expect(restored.code, restored.stderr).toBe(0);
    expect(await columns(fresh)).toBe('id,name');
    expect(await rows(fresh)).toBe('1:apple,2:pear,3:plum');

    // The recorded command, run as printed (as root), puts the migrated database back.
    const undo = await execCommand('/bin/sh', ['-c', recorded.restore], {env: cluster.env, log});
    expect(undo.code, undo.stderr).toBe(0);
    expect(await columns(database)).toBe('id,name');
    expect(await rows(database)).toBe('1:apple,2:pear,3:plum');

    const status = await parako(world, ['status'], {env: cliEnv});
    expectExit(status, 0);
    expect(status.stdout).toContain(recorded.restore);
  });

  it("a migration that fails leaves current on the old release with exit 6 and prints the backup's restore command", async () => {
    const database = await shopDatabase();
    await installed(database);
    await world.publish({version: '1.1.0', migration: {command: psqlMigration(database, 'ALTER TABLE items ADD COLUMN price int; SELECT no_such_function()')}});

    const result = await parako(world, ['update', '--migrate'], {env: cliEnv});
    expectExit(result, 6);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    const [file] = await backupFiles();
    expect(file).toMatch(/^demo-app-pre-v1\.1\.0-.*\.dump$/);
    expect(result.stderr).toContain('no_such_function');
    expect(result.stderr).toContain(`pg_restore --no-owner --clean --if-exists --single-transaction --dbname=${database} < ${join(world.dir, 'backups', file!)}`);
    expect(await rows(database)).toBe('1:apple,2:pear,3:plum');
  });

  it('a failing pg_dump stops the update with exit 6: nothing swapped, no partial file left', async () => {
    await installed('shop_that_does_not_exist');
    await world.publish({version: '1.1.0', migration: {command: 'touch MIGRATED'}});

    const result = await parako(world, ['update', '--migrate', '--json'], {env: cliEnv});
    expectExit(result, 6);
    const message = String(jsonOf(result).message);
    expect(message).toContain(
      `pre-swap hook of ${PLUGIN} failed: the backup of PostgreSQL database shop_that_does_not_exist (as postgres) failed, so the update stops before the swap: pg_dump failed with exit code 1`,
    );
    expect(message).toContain('database "shop_that_does_not_exist" does not exist'); // pg_dump's own words
    expect(message).toContain('no backup was taken and nothing was changed');
    expect(String(jsonOf(result).next)).toContain('update with --no-backup');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(join(world.dir, 'releases', 'v1.1.0', 'MIGRATED'))).toBe(false);
    expect(await backupFiles()).toEqual([]);
  });

  it('--dry-run names the plugin, the database and the path, and writes nothing', async () => {
    const database = await shopDatabase();
    await installed(database);
    await world.publish({version: '1.1.0', migration: {command: psqlMigration(database, 'ALTER TABLE items ADD COLUMN price int')}});

    const result = await parako(world, ['update', '--migrate', '--dry-run'], {env: cliEnv});
    expectExit(result, 0);
    const path = join(world.dir, 'backups', 'demo-app-pre-v1.1.0-<UTC time>.dump');
    expect(result.stdout).toContain(`backup: would be taken by ${PLUGIN} of PostgreSQL database ${database} (as postgres) with pg_dump --no-owner --format=custom to ${path}`);
    expect(result.stdout).not.toContain('would back up'); // one backup line, the plan's
    expect(await backupFiles()).toEqual([]);
    expect(await columns(database)).toBe('id,name');
  });

  it("with backup.url the password reaches pg_dump in PGPASSWORD but never the output, the history or parako's log", async () => {
    const password = 'S3cret pw/with@odd:chars';
    await cluster.sql('postgres', `CREATE ROLE shop_owner LOGIN PASSWORD '${password}'`);
    const database = await shopDatabase('shop_owner');
    const url = `postgresql://shop_owner:${encodeURIComponent(password)}@127.0.0.1:${cluster.port}/${database}`;
    const env = {...cliEnv, SHOP_DATABASE_URL: url};
    world = await worlds.make();
    await world.writeConfig({backup: {type: 'postgres', url: '${SHOP_DATABASE_URL}'}});
    await world.publish({version: '1.0.0'});
    expectExit(await parako(world, ['update'], {env}), 0);
    await world.publish({version: '1.1.0'});

    const result = await parako(world, ['update', '--backup'], {env}); // --backup: no migration declared
    expectExit(result, 0);
    const [file] = await backupFiles();
    const dump = join(world.dir, 'backups', file!);
    const recorded = (await history(world)).at(-1)?.backup as {restore: string};
    expect(recorded.restore).toBe(`pg_restore --no-owner --clean --if-exists --single-transaction --dbname=postgresql://shop_owner@127.0.0.1:${cluster.port}/${database} < ${dump}`);
    expect(result.stdout).toContain(`backed up PostgreSQL database at postgresql://shop_owner:****@127.0.0.1:${cluster.port}/${database} to ${dump}: `);
    const listed = await execCommand('pg_restore', ['--list', dump], {log});
    expect(listed.stdout).toContain('TABLE DATA public items');

    // A wrong password: pg_dump fails, and its message names the user, never the password.
    await world.writeConfig({backup: {type: 'postgres', url: url.replace(encodeURIComponent(password), encodeURIComponent(`${password}-wrong`))}});
    await world.publish({version: '1.2.0'});
    const refused = await parako(world, ['update', '--backup'], {env});
    expectExit(refused, 6);
    expect(refused.stderr).toContain('password authentication failed for user "shop_owner"');

    const logFile = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    for (const text of [result.stdout, result.stderr, refused.stdout, refused.stderr, logFile, JSON.stringify(await history(world))]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(encodeURIComponent(password));
    }
  });
});
