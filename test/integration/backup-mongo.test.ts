/**
 * The MongoDB backup plugin (plugins/backup-mongo) through the real CLI: before a release
 * with a migration is swapped in, the database is dumped to a 0600 archive that is checked
 * to be a whole gzip stream, and the connection string's password is never shown or kept.
 * No mongod or mongodump runs on this machine, so these tests drive a recorded fake mongodump
 * on PATH (test/fixtures/fake-mongodump.ts); the last test runs against a real server only
 * when PARAKO_TEST_MONGO_URI is set.
 */
import {execFile} from 'node:child_process';
import {createReadStream} from 'node:fs';
import {mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {fileURLToPath} from 'node:url';
import {createGunzip} from 'node:zlib';

import {describe, expect, it} from 'vitest';

import {formatSize} from '../../src/sdk/text.js';
import {type FakeMongodump, makeFakeMongodump} from '../fixtures/fake-mongodump.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, exists, expectExit, history, parako, useSignedWorlds} from './helpers.js';

const PLUGIN = '@parako/plugin-backup-mongo';
const PLUGIN_ROOT = fileURLToPath(new URL('../../plugins/backup-mongo', import.meta.url));
const PASSWORD = 'Pw-9f3Kq-s3cret';
const URI = `mongodb://app:${PASSWORD}@127.0.0.1:27017/demo?authSource=admin`;
const MASKED = 'mongodb://app:****@127.0.0.1:27017/demo?authSource=admin';
const ARCHIVE_NAME = /^demo-app-pre-v1\.1\.0-\d{4}-\d{2}-\d{2}T\d{6}Z\.archive$/;

const worlds = useSignedWorlds();

interface MongoWorld {
  world: SignedWorld;
  env: Record<string, string>;
  backups: string;
}

/**
 * v1.0.0 installed, v1.1.0 (with a migration) published, the plugin linked the way
 * `parako plugins link` does, and the connection string given as ${MONGO_URI}.
 */
async function mongoWorld(pathEnv: Record<string, string>, uri = URI, migration = 'true'): Promise<MongoWorld> {
  const world = await worlds.make();
  await world.writeConfig({backup: {type: 'mongo', uri: '${MONGO_URI}'}});
  const dataDir = join(world.root, 'oclif-data');
  await mkdir(dataDir, {recursive: true});
  const pjson = {private: true, oclif: {schema: 1, plugins: [{type: 'link', name: PLUGIN, root: PLUGIN_ROOT}]}};
  await writeFile(join(dataDir, 'package.json'), JSON.stringify(pjson, null, 2));
  const env = {...pathEnv, MONGO_URI: uri, PARAKO_DATA_DIR: dataDir};
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update'], {env}), 0);
  await world.publish({version: '1.1.0', migration: {command: migration}});
  return {world, env, backups: join(world.dir, 'backups')};
}

async function fakeWorld(mode: 'ok' | 'auth-error' | 'truncated' = 'ok', migration = 'true'): Promise<MongoWorld & {fake: FakeMongodump}> {
  const root = await worlds.make(); // only for a temp dir that is cleaned up with the test
  const fake = await makeFakeMongodump(root.root, {expectUri: URI, mode});
  return {...(await mongoWorld(fake.env, URI, migration)), fake};
}

/** Inflates the whole file; throws on a truncated or corrupt gzip stream. */
async function gunzippedBytes(file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(createReadStream(file), createGunzip(), new Writable({write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done())}));
  return Buffer.concat(chunks);
}

async function filesIn(folder: string): Promise<string[]> {
  return readdir(folder).catch(() => []);
}

describe('backup-mongo with a recorded fake mongodump', () => {
  it('the fake refuses options it does not know, as mongodump does (so a wrong flag in the plugin fails the tests)', async () => {
    const root = await worlds.make();
    const fake = await makeFakeMongodump(root.root, {expectUri: URI});
    const run = await new Promise<{code: number | null; stderr: string}>((resolve) => {
      execFile(join(fake.binDir, 'mongodump'), ['--out=dump', '--gzip'], (error, _stdout, stderr) => resolve({code: error === null ? 0 : (error.code as number), stderr}));
    });
    expect(run).toEqual({code: 3, stderr: expect.stringContaining('error parsing command line options: unknown option "out"')});
  });

  it('archives the database before a migration: 0600, named by the rule, a whole gzip stream, restore command in history and status', async () => {
    const {world, env, backups, fake} = await fakeWorld();
    expect(await fake.calls()).toHaveLength(0); // v1.0.0 declares no migration: no backup
    const updated = await parako(world, ['update', '--migrate', '--log-level', 'debug'], {env});
    expectExit(updated, 0);

    const [call] = await fake.calls();
    expect(call).toMatchObject({configUri: URI, configMode: '600', argvUri: null, uriAsExpected: true});
    expect(call!.argv).toEqual([expect.stringMatching(/^--config=\/.+\.yaml$/), '--archive', '--gzip']);
    expect(await exists(call!.argv[0]!.slice('--config='.length))).toBe(false); // the 0600 config file is gone

    const files = await filesIn(backups);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(ARCHIVE_NAME);
    const archive = join(backups, files[0]!);
    expect((await stat(archive)).mode & 0o777).toBe(0o600);
    expect((await gunzippedBytes(archive)).subarray(0, 4)).toEqual(Buffer.from([0x6d, 0xe2, 0x99, 0x81]));

    const restore = `mongorestore --uri='${MASKED}' --archive=${archive} --gzip --drop`;
    const size = formatSize((await stat(archive)).size);
    expect(updated.stdout).toContain(`[${PLUGIN}] backed up ${MASKED} to ${archive}: ${size}, a complete gzip stream of a mongodump archive\n  restore with: ${restore}`);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', outcome: 'updated', migrationRan: true, backup: {plugin: PLUGIN, path: archive, restore}});
    const status = await parako(world, ['status'], {env});
    expectExit(status, 0);
    expect(status.stdout).toContain(archive);
    expect(status.stdout).toContain(restore);

    const parakoLog = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    const historyFile = await readFile(join(world.dir, '.parako', 'history.jsonl'), 'utf8');
    for (const text of [updated.stdout, updated.stderr, status.stdout, status.stderr, parakoLog, historyFile]) {
      expect(text).not.toContain(PASSWORD);
    }
    expect(parakoLog).toContain('--config='); // the exec log shows the argv, which holds no URI
  });

  it('a failing mongodump (authentication error) stops the update with exit 6: nothing swapped, no partial file, no password shown', async () => {
    const {world, env, backups, fake} = await fakeWorld('auth-error');
    const failed = await parako(world, ['update', '--migrate', '--log-level', 'debug'], {env});
    expectExit(failed, 6);
    expect(failed.stderr).toContain(`pre-swap hook of ${PLUGIN} failed: the backup of ${MASKED} failed, so the update stops before the swap: mongodump failed with exit code`);
    expect(failed.stderr).toContain('Authentication failed');
    expect(failed.stderr).toContain(`failed to connect to ${MASKED}`); // the tool printed the URI: parako shows it masked
    expect(failed.stderr).toContain(`next: fix what ${PLUGIN} reports above, or, knowing there is then nothing to restore, update with --no-backup`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(join(world.dir, 'releases', 'v1.1.0'))).toBe(false);
    expect(await filesIn(backups)).toEqual([]);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', outcome: 'failed', code: 6, migrationRan: false, backup: null});
    expect(await fake.calls()).toHaveLength(1);
    const parakoLog = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    const historyFile = await readFile(join(world.dir, '.parako', 'history.jsonl'), 'utf8');
    for (const text of [failed.stdout, failed.stderr, parakoLog, historyFile]) expect(text).not.toContain(PASSWORD);
  });

  it('a truncated gzip archive is not a backup: exit 6, nothing swapped, the partial file removed', async () => {
    const {world, env, backups} = await fakeWorld('truncated');
    const failed = await parako(world, ['update', '--migrate'], {env});
    expectExit(failed, 6);
    expect(failed.stderr).toContain(`the backup of ${MASKED} failed, so the update stops before the swap: what mongodump wrote is not a complete gzip stream`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await filesIn(backups)).toEqual([]);
  });

  it('a failed migration after the backup re-aims current back (exit 6) and prints the masked restore command', async () => {
    const {world, env, backups} = await fakeWorld('ok', 'echo index build failed >&2; exit 4');
    const failed = await parako(world, ['update', '--migrate'], {env});
    expectExit(failed, 6);
    const [file] = await filesIn(backups);
    expect(file).toMatch(ARCHIVE_NAME);
    expect(failed.stderr).toContain(`restore the backup with: mongorestore --uri='${MASKED}' --archive=${join(backups, file!)} --gzip --drop`);
    expect(failed.stderr).not.toContain(PASSWORD);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({outcome: 'failed', code: 6, migrationRan: true, backup: {plugin: PLUGIN, path: join(backups, file!)}});
  });

  it('--no-backup skips it with a warning, and a release without a migration takes none', async () => {
    const {world, env, fake} = await fakeWorld();
    const skipped = await parako(world, ['update', '--no-backup'], {env});
    expectExit(skipped, 0);
    expect(skipped.stdout).toContain('--no-backup');
    expect(await fake.calls()).toHaveLength(0);
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', backup: null});
  });

  it('a dry run names the plugin, the database and the path it would write, and writes nothing', async () => {
    const {world, env, backups, fake} = await fakeWorld();
    const planned = await parako(world, ['update', '--dry-run'], {env});
    expectExit(planned, 0);
    const path = join(backups, 'demo-app-pre-v1.1.0-<UTC time>.archive');
    expect(planned.stdout).toContain(`backup: would be taken by ${PLUGIN} of ${MASKED} with mongodump --archive --gzip to ${path}`);
    expect(planned.stdout).not.toContain('would back up'); // one backup line, the plan's
    expect(planned.stdout).not.toContain(PASSWORD);
    expect(await exists(backups)).toBe(false);
    expect(await fake.calls()).toHaveLength(0);
  });
});

const REAL_URI = process.env.PARAKO_TEST_MONGO_URI;

describe('backup-mongo against a real MongoDB server', () => {
  it.skipIf(REAL_URI === undefined)(
    'opt-in, set PARAKO_TEST_MONGO_URI and put mongodump on PATH (skipped when unset, also under CI: no mongod on this machine): the real mongodump archive passes the checks',
    async () => {
      const {world, env, backups} = await mongoWorld({}, REAL_URI!);
      const updated = await parako(world, ['update', '--migrate'], {env});
      expectExit(updated, 0);
      const files = await filesIn(backups);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(ARCHIVE_NAME);
      const archive = join(backups, files[0]!);
      expect((await stat(archive)).mode & 0o777).toBe(0o600);
      expect((await gunzippedBytes(archive)).subarray(0, 4)).toEqual(Buffer.from([0x6d, 0xe2, 0x99, 0x81]));
      const password = /:\/\/[^:@/]*:([^@/]*)@/.exec(REAL_URI!)?.[1];
      if (password !== undefined && password !== '') {
        for (const text of [updated.stdout, updated.stderr, await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8')]) expect(text).not.toContain(password);
      }
    },
    120_000,
  );
});
