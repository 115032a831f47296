/**
 * The MariaDB and supervisord fixtures do what the plugin tests built on them rely on: a
 * server with real password auth that mariadb-dump can back up, and a supervisord whose
 * programs start, restart with a new process and leave nothing behind at stop.
 */
import {readFile} from 'node:fs/promises';

import pino from 'pino';
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';

import {execCommand} from '../../src/core/exec.js';
import {type MariadbServer, mariadbMissing, startMariadb} from '../fixtures/mariadb.js';
import {type Supervisord, startSupervisord, supervisordMissing} from '../fixtures/supervisord.js';

const log = pino({level: 'silent'});

const noMariadb = await mariadbMissing();
if (noMariadb !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide MariaDB (.ci/run installs Debian's mariadb-server and mariadb-client): ${noMariadb}`);
}
const noSupervisord = await supervisordMissing();
if (noSupervisord !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide supervisord (.ci/run installs Debian's supervisor): ${noSupervisord}`);
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe.skipIf(noMariadb !== false)(`a throwaway MariaDB server${noMariadb ? ` (skipped: ${noMariadb})` : ''}`, () => {
  let server: MariadbServer;
  beforeAll(async () => {
    server = await startMariadb();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The mariadb client as `app`, over TCP, the password in the environment as a plugin would hand it over. */
  async function asApp(command: string, args: string[]): Promise<string> {
    const result = await execCommand(command, ['--no-defaults', '--protocol=tcp', '--host=127.0.0.1', `--port=${server.port}`, `--user=${server.app.user}`, ...args], {
      env: {MYSQL_PWD: server.app.password},
      log,
    });
    if (result.code !== 0) throw new Error(`${command} as app failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  }

  it('the app user, with its password, creates a table, inserts and reads back', async () => {
    await asApp('mariadb', [server.app.database, '--batch', '--skip-column-names', '--execute=CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES (1, "apple"), (2, "pear")']);
    expect(await asApp('mariadb', [server.app.database, '--batch', '--skip-column-names', '--execute=SELECT id, name FROM items ORDER BY id'])).toBe('1\tapple\n2\tpear\n');
    expect(await server.sql(server.app.database, 'SELECT COUNT(*) FROM items')).toBe('2');
  });

  it('a wrong password is refused: auth is real', async () => {
    const result = await execCommand('mariadb', ['--no-defaults', `--socket=${server.socket}`, `--user=${server.app.user}`, '--password=wrong', '--execute=SELECT 1'], {log});
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Access denied for user 'app'/);
  });

  it('mariadb-dump --single-transaction as the app user dumps its table', async () => {
    await server.createDatabase('shop');
    await server.sql('shop', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (7)');
    const dump = await asApp('mariadb-dump', ['--single-transaction', 'shop']);
    expect(dump).toContain('CREATE TABLE `orders`');
    expect(dump).toContain('INSERT INTO `orders` VALUES');
  });
});

describe.skipIf(noSupervisord !== false)(`a throwaway supervisord${noSupervisord ? ` (skipped: ${noSupervisord})` : ''}`, () => {
  let supervisord: Supervisord;
  beforeEach(async () => {
    supervisord = await startSupervisord();
  });
  afterEach(async () => {
    await supervisord?.stop();
  });

  it('a program added reaches RUNNING, restarts with a new pid, and stop leaves no process behind', async () => {
    const pidFile = `${supervisord.dir}/sleeper.pid`;
    await supervisord.addProgram('sleeper', {command: `/bin/sh -c 'echo $$ > ${pidFile}; exec sleep 1000'`, directory: supervisord.dir, environment: {GREETING: 'a, b and 100%'}});
    const first = await supervisord.waitFor('sleeper', 'RUNNING');
    expect(first.pid).toBeGreaterThan(0);
    expect(Number(await readFile(pidFile, 'utf8'))).toBe(first.pid);
    const environ = (await readFile(`/proc/${first.pid}/environ`, 'utf8')).split('\0');
    expect(environ).toContain('GREETING=a, b and 100%');

    expect((await supervisord.ctl(['restart', 'sleeper'])).code).toBe(0);
    const second = await supervisord.waitFor('sleeper', 'RUNNING');
    expect(second.pid).not.toBe(first.pid);
    expect(alive(first.pid!)).toBe(false);

    // supervisord exits only once it has reaped every program: nothing may be left to find.
    await supervisord.stop();
    expect(alive(second.pid!)).toBe(false);
  });

  it('a program with autostart=false stays STOPPED until started; an unknown program is an error', async () => {
    await supervisord.addProgram('idle', {command: '/bin/sleep 1000', directory: supervisord.dir, autostart: false, startsecs: 0});
    expect((await supervisord.status('idle')).state).toBe('STOPPED');
    await expect(supervisord.status('absent')).rejects.toThrow(/no such process/);
    expect((await supervisord.ctl(['start', 'idle'])).code).toBe(0);
    expect((await supervisord.status('idle')).state).toBe('RUNNING');
  });
});
