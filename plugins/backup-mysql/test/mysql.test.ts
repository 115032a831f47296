import {execFileSync} from 'node:child_process';
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import {checkDump, clientTools, connectionArgs, describeDatabase, restoreCommand} from '../src/mysql.js';
import {optionFileText, readPassword, withClientOptions} from '../src/option-file.js';
import provider, {type MysqlSettings} from '../src/provides.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parako-mysql-test-'));
});
afterEach(async () => {
  await rm(dir, {recursive: true, force: true});
});

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the backup section', async () => {
  it('takes a database and, optionally, where the server is, who logs in and where the password is', async () => {
    expect(await problems({type: 'mysql', database: 'shop'})).toEqual([]);
    expect(await problems({type: 'mysql', database: 'shop', host: 'db.internal', port: 3307, user: 'app', passwordFile: '/etc/parako/shop.password'})).toEqual([]);
    expect(await problems({type: 'mysql', database: 'shop', socket: '/run/mysqld/mysqld.sock', optionFile: '/etc/mysql/debian.cnf'})).toEqual([]);
    expect(await problems({type: 'mysql', database: 'shop', runAs: 'shop'})).toEqual([]);
  });

  it('names what is wrong: a missing database, an unknown key, a password, a relative path', async () => {
    expect(await problems({type: 'mysql'})).toEqual(['backup.database: is required: the database to dump']);
    expect(await problems({type: 'mysql', database: 'shop', pasword: 'x'})).toEqual(['backup: unknown key "pasword"']);
    expect((await problems({type: 'mysql', database: 'shop', password: 'x'}))[0]).toMatch(/^backup\.password: parako\.json never holds the password: put it in a file named by backup\.passwordFile/);
    expect(await problems({type: 'mysql', database: 'shop', passwordFile: 'shop.password'})).toEqual(['backup.passwordFile: must be an absolute path']);
    expect(await problems({type: 'mysql', database: '--all-databases'})).toEqual(['backup.database: must not start with "-"']);
    expect(await problems({type: 'mysql', database: 'shop', port: '3306'})).toHaveLength(1);
  });

  it('refuses settings that contradict each other', async () => {
    expect(await problems({type: 'mysql', database: 'shop', socket: '/run/mysqld/mysqld.sock', host: 'db'})).toEqual(['backup.socket: is for a local server: give either socket, or host and port']);
    expect(await problems({type: 'mysql', database: 'shop', passwordFile: '/a', optionFile: '/b'})).toEqual(['backup.passwordFile: cannot be combined with optionFile: put the password into the option file']);
    expect(await problems({type: 'mysql', database: 'shop', passwordFile: '/a', runAs: 'shop'})).toEqual([
      'backup.passwordFile: cannot be combined with runAs: runAs is for an account that logs in by unix_socket, without a password',
    ]);
  });
});

describe('the password', () => {
  const tricky = `S3cret "pw" \\ with #odd; 'chars' `;

  it('is written double-quoted, with backslashes and quotes escaped', () => {
    expect(optionFileText(tricky)).toBe(`[client]\npassword="S3cret \\"pw\\" \\\\ with #odd; 'chars' "\n`);
  });

  const printDefaults = (() => {
    try {
      execFileSync('sh', ['-c', 'command -v my_print_defaults'], {stdio: 'ignore'});
      return true;
    } catch {
      return false; // no MariaDB client here: the quoting is checked against the expected text only
    }
  })();
  it.skipIf(!printDefaults)('reads back from the option file exactly as it was, as the MariaDB client parses it', async () => {
    const file = join(dir, 'client.cnf');
    await writeFile(file, optionFileText(tricky));
    expect(execFileSync('my_print_defaults', [`--defaults-file=${file}`, 'client'], {encoding: 'utf8'})).toBe(`--password=${tricky}\n`);
  });

  it('is the first line of backup.passwordFile, without its line break; an empty or multi-line file is refused', async () => {
    const file = join(dir, 'shop.password');
    await writeFile(file, `${tricky}\n`);
    expect(await readPassword(file)).toBe(tricky);
    await writeFile(file, 'pw\r\n');
    expect(await readPassword(file)).toBe('pw');
    await writeFile(file, '\n');
    await expect(readPassword(file)).rejects.toThrow(`backup.passwordFile ${file} is empty`);
    await writeFile(file, 'one\ntwo\n');
    await expect(readPassword(file)).rejects.toThrow('must hold the password alone, on one line');
    await expect(readPassword(join(dir, 'absent'))).rejects.toThrow(`cannot read backup.passwordFile ${join(dir, 'absent')}: ENOENT`);
  });

  it('goes to the client in a 0600 option file named first, in a private HOME that is removed afterwards, even when the dump fails', async () => {
    const passwordFile = join(dir, 'shop.password');
    await writeFile(passwordFile, 'pw-1234\n');
    const settings: MysqlSettings = {type: 'mysql', database: 'shop', passwordFile};
    let seen: {args: string[]; env: Record<string, string>; secret: string | undefined} | undefined;
    await expect(
      withClientOptions(settings, async (options) => {
        seen = options;
        const file = options.args[0]!.replace('--defaults-extra-file=', '');
        expect(dirname(file)).toBe(options.env.HOME);
        expect((await stat(file)).mode & 0o777).toBe(0o600);
        expect((await stat(options.env.HOME!)).mode & 0o777).toBe(0o700);
        throw new Error('mariadb-dump failed');
      }),
    ).rejects.toThrow('mariadb-dump failed');
    expect(seen?.args).toEqual([expect.stringMatching(/^--defaults-extra-file=\/.*\/client\.cnf$/)]);
    expect(seen?.secret).toBe('pw-1234');
    await expect(stat(seen!.env.HOME!)).rejects.toThrow(/ENOENT/);
  });

  it('with backup.optionFile, is left in that file, named first (HOME still private); without credentials in parako.json, is the client\'s own business', async () => {
    let withOptionFile: {args: string[]; env: Record<string, string>} | undefined;
    await withClientOptions({type: 'mysql', database: 'shop', optionFile: '/etc/mysql/debian.cnf'}, async (options) => void (withOptionFile = options));
    expect(withOptionFile?.args).toEqual(['--defaults-extra-file=/etc/mysql/debian.cnf']);
    expect(withOptionFile?.env.HOME).toMatch(/parako-mysql-/);
    await withClientOptions({type: 'mysql', database: 'shop'}, async (options) => expect(options).toEqual({args: [], env: {}, secret: undefined}));
  });
});

describe('the dump program', () => {
  it('is mariadb-dump where it is installed, else mysqldump', () => {
    const installed = (...files: string[]) => (file: string) => files.includes(file);
    expect(clientTools('/usr/local/bin:/usr/bin', installed('/usr/bin/mysqldump', '/usr/bin/mariadb-dump'))).toEqual({dump: '/usr/bin/mariadb-dump', client: 'mariadb'});
    expect(clientTools('/usr/local/bin:/usr/bin', installed('/usr/local/bin/mysqldump'))).toEqual({dump: '/usr/local/bin/mysqldump', client: 'mysql'});
    expect(() => clientTools('/usr/bin:relative', installed('relative/mariadb-dump'))).toThrow('neither mariadb-dump nor mysqldump is on PATH');
  });

  it('is told where the server is and who logs in as parako.json says, and nothing more', () => {
    expect(connectionArgs({type: 'mysql', database: 'shop'})).toEqual([]);
    expect(connectionArgs({type: 'mysql', database: 'shop', host: 'db.internal', port: 3307, user: 'app'})).toEqual(['--host=db.internal', '--port=3307', '--user=app']);
    expect(connectionArgs({type: 'mysql', database: 'shop', socket: '/run/mysqld/mysqld.sock'})).toEqual(['--socket=/run/mysqld/mysqld.sock']);
  });

  it('is described for messages without a password', () => {
    expect(describeDatabase({type: 'mysql', database: 'shop'})).toBe('MySQL database shop');
    expect(describeDatabase({type: 'mysql', database: 'shop', host: 'db', port: 3307, user: 'app', passwordFile: '/etc/pw'})).toBe('MySQL database shop at db:3307 as user app');
    expect(describeDatabase({type: 'mysql', database: 'shop', port: 3307})).toBe('MySQL database shop at localhost:3307');
    expect(describeDatabase({type: 'mysql', database: 'shop', runAs: 'shop', optionFile: '/etc/shop.cnf'})).toBe('MySQL database shop as system user shop with /etc/shop.cnf');
  });
});

describe('the restore command', () => {
  const mariadb = {client: 'mariadb'} as const;

  it('feeds the dump to the client with the same connection, and no password', () => {
    expect(restoreCommand({type: 'mysql', database: 'shop', host: '127.0.0.1', port: 3306, user: 'app', passwordFile: '/etc/parako/pw'}, '/opt/app/backups/app-pre-v1.2.0-x.sql', mariadb)).toBe(
      'mariadb --host=127.0.0.1 --port=3306 --user=app shop < /opt/app/backups/app-pre-v1.2.0-x.sql',
    );
    expect(restoreCommand({type: 'mysql', database: 'shop', optionFile: '/etc/mysql/debian.cnf'}, '/b/x.sql', {client: 'mysql'})).toBe('mysql --defaults-extra-file=/etc/mysql/debian.cnf shop < /b/x.sql');
    expect(restoreCommand({type: 'mysql', database: 'shop', runAs: 'shop'}, '/b/x.sql', mariadb)).toBe('runuser -u shop -- mariadb shop < /b/x.sql');
  });

  it('is quoted for the shell', () => {
    expect(restoreCommand({type: 'mysql', database: "it's shop", user: 'a b', optionFile: '/etc/my conf/x.cnf'}, '/srv/my backups/x.sql', mariadb)).toBe(
      `mariadb '--defaults-extra-file=/etc/my conf/x.cnf' '--user=a b' 'it'\\''s shop' < '/srv/my backups/x.sql'`,
    );
  });
});

describe('the dump check', () => {
  const header = '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n-- Host: localhost    Database: shop\n';
  const table = (name: string) => `DROP TABLE IF EXISTS \`${name}\`;\nCREATE TABLE \`${name}\` (\n  \`id\` int(11) NOT NULL\n);\nINSERT INTO \`${name}\` VALUES (1);\n`;
  const trailer = '/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n-- Dump completed on 2026-12-03 13:11:14\n';

  async function dumpOf(text: string): Promise<string> {
    const file = join(dir, 'dump.sql');
    await writeFile(file, text);
    return file;
  }

  it('counts the tables of a complete dump', async () => {
    expect(await checkDump(await dumpOf(header + table('items') + table('notes') + trailer))).toBe('2 tables, checked: dump completed');
    expect(await checkDump(await dumpOf(header + table('items') + trailer))).toBe('1 table, checked: dump completed');
  });

  it('says so when the database has no tables', async () => {
    expect(await checkDump(await dumpOf(header + trailer))).toBe('no tables (the database is empty), checked: dump completed');
  });

  it('refuses a dump cut short, or an empty file', async () => {
    await expect(checkDump(await dumpOf(header + table('items')))).rejects.toThrow('the dump does not end with "-- Dump completed": it was cut short');
    await expect(checkDump(await dumpOf(''))).rejects.toThrow('cut short');
  });

  it('reads a large dump as a stream, counting a table line split between two reads', async () => {
    // createReadStream reads 64 KiB at a time: "\nCREATE TABLE `notes`" starts 5 bytes before the end of the first read.
    const start = header + table('items');
    const split = 65_536 - 5;
    const text = `${start}-- ${'x'.repeat(split - start.length - 3)}\nCREATE TABLE \`notes\` (id int);\n${'-- filler\n'.repeat(10_000)}${table('tags')}${trailer}`;
    expect(text.indexOf('\nCREATE TABLE `notes`')).toBe(split);
    expect(await checkDump(await dumpOf(text))).toBe('3 tables, checked: dump completed');
  });
});
