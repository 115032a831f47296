/**
 * The one tool this plugin drives: MariaDB's (or MySQL's) client programs. mariadb-dump, or
 * mysqldump where only that is installed, writes the database as SQL in one consistent
 * snapshot (--single-transaction); the dump is read back for its completion line; `mariadb`
 * puts it back. The password never reaches a command line or a message (option-file.ts).
 */
import {accessSync, constants, createReadStream} from 'node:fs';
import {basename, join} from 'node:path';

import {type HookContext, outputTail, shellQuote} from 'parako';

import {checkCredentials, withClientOptions} from './option-file.js';
import type {MysqlSettings} from './provides.js';

/**
 * What mariadb-dump is asked for, after the option file and connection options:
 * - --single-transaction: a consistent InnoDB snapshot without locking the app's tables
 *   (and without the LOCK TABLES, RELOAD or PROCESS privileges);
 * - --quick: rows are streamed, not held in the client's memory;
 * - --routines --triggers --events: the schema a migration changes is more than tables
 *   (--events needs the EVENT privilege on the database);
 * - --hex-blob: binary columns survive any character set;
 * - --no-tablespaces: MySQL 8 needs PROCESS to list tablespaces, and one database has none;
 * - --default-character-set=utf8mb4: every character survives, whatever an option file says;
 * - --comments: the `-- Dump completed` line that checkDump looks for (an option file may say skip-comments).
 */
export const DUMP_OPTIONS = [
  '--single-transaction',
  '--quick',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--no-tablespaces',
  '--default-character-set=utf8mb4',
  '--comments',
];

/** The client programs of one family: MariaDB's, or MySQL's where only those are installed. */
export interface ClientTools {
  /** The dump program, as found on PATH (absolute). */
  dump: string;
  /** The name of the client that restores, for the operator's shell. */
  client: 'mariadb' | 'mysql';
}

/** mariadb-dump if it is on `path`, else mysqldump; throws when neither is. */
export function clientTools(path = process.env.PATH ?? '', executable = isExecutable): ClientTools {
  const directories = path.split(':').filter((directory) => directory.startsWith('/'));
  for (const [dump, client] of [['mariadb-dump', 'mariadb'], ['mysqldump', 'mysql']] as const) {
    const found = directories.map((directory) => join(directory, dump)).find(executable);
    if (found !== undefined) return {dump: found, client};
  }
  throw new Error('neither mariadb-dump nor mysqldump is on PATH (on Debian: apt-get install -y mariadb-client)');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false; // not there, or not executable: the next directory of PATH may have it
  }
}

/** The client options that say where the server is and who logs in, as parako.json sets them. */
export function connectionArgs(settings: MysqlSettings): string[] {
  const {host, port, socket, user} = settings;
  return [
    ...(host === undefined ? [] : [`--host=${host}`]),
    ...(port === undefined ? [] : [`--port=${port}`]),
    ...(socket === undefined ? [] : [`--socket=${socket}`]),
    ...(user === undefined ? [] : [`--user=${user}`]),
  ];
}

/**
 * What `backup` in parako.json points at, for messages and the plan: `MySQL database shop at
 * db.internal:3306 as user app`. Never names a password.
 */
export function describeDatabase(settings: MysqlSettings): string {
  const {host, port, socket, user, runAs, optionFile} = settings;
  const server = socket ?? (host === undefined && port === undefined ? undefined : `${host ?? 'localhost'}${port === undefined ? '' : `:${port}`}`);
  return [
    `MySQL database ${settings.database}`,
    server === undefined ? undefined : `at ${server}`,
    user === undefined ? undefined : `as user ${user}`,
    runAs === undefined ? undefined : `as system user ${runAs}`,
    optionFile === undefined ? undefined : `with ${optionFile}`,
  ]
    .filter((part) => part !== undefined)
    .join(' ');
}

/** Checks that can fail before a file exists: the dump program is installed, the credentials file reads. */
export async function preflight(settings: MysqlSettings): Promise<void> {
  clientTools();
  await checkCredentials(settings);
}

/**
 * mariadb-dump of the database into `file`: the option file first (the client reads it only
 * there), then the connection, DUMP_OPTIONS, the database. parako opens `file` (stdoutTo), so
 * a dump running as `backup.runAs` writes into a folder only root may enter.
 */
export async function dump(ctx: HookContext, settings: MysqlSettings, file: string): Promise<void> {
  const tools = clientTools();
  await withClientOptions(settings, async (options) => {
    const args = [...options.args, ...connectionArgs(settings), ...DUMP_OPTIONS, settings.database];
    // "/": parako's own working directory may be one that backup.runAs cannot enter.
    const result = await ctx.exec(tools.dump, args, {runAs: settings.runAs, cwd: '/', env: options.env, stdoutTo: file});
    if (result.code !== 0) {
      throw new Error(`${basename(tools.dump)} failed with exit code ${result.code}${result.signal ? ` (${result.signal})` : ''}${outputTail(result.stderr, [options.secret])}`);
    }
  });
}

/** The line mariadb-dump and mysqldump end a whole dump with (`-- Dump completed on <date>`). */
const COMPLETED = '-- Dump completed';
/** How each table starts in a dump: a line of its own. */
const TABLE = Buffer.from('\nCREATE TABLE ');
/** How much of the end is kept to find the last line: the completion line is short. */
const TAIL_BYTES = 4096;

/**
 * Reads the dump back as a stream (it may be gigabytes): it must end with the completion line,
 * which the dump program writes last, so a dump cut short (disk full, killed) is refused.
 * Says how many tables it holds.
 */
export async function checkDump(file: string): Promise<string> {
  let tables = 0;
  // The end of what was read so far: the last line at the end, and a table line split across chunks.
  let tail = Buffer.from('\n');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    const window = Buffer.concat([tail.subarray(-(TABLE.length - 1)), chunk]);
    for (let at = window.indexOf(TABLE); at !== -1; at = window.indexOf(TABLE, at + TABLE.length)) tables += 1;
    tail = Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES);
  }
  const lastLine = tail.toString('utf8').trimEnd().split('\n').at(-1) ?? '';
  if (!lastLine.startsWith(COMPLETED)) throw new Error(`the dump does not end with "${COMPLETED}": it was cut short`);
  if (tables === 0) return 'no tables (the database is empty), checked: dump completed';
  return `${tables} ${tables === 1 ? 'table' : 'tables'}, checked: dump completed`;
}

/**
 * The command an operator runs (as root, which can read the 0600 file) to put the database
 * back: the dump drops and recreates each table it holds. It names no password: the client
 * reads it from the option file, from root's ~/.my.cnf, or asks for it with -p.
 */
export function restoreCommand(settings: MysqlSettings, file: string, tools: Pick<ClientTools, 'client'> = clientTools()): string {
  const options = settings.optionFile === undefined ? [] : [`--defaults-extra-file=${settings.optionFile}`];
  const restore = [tools.client, ...options, ...connectionArgs(settings), settings.database].map(shellQuote).join(' ');
  const command = `${restore} < ${shellQuote(file)}`;
  return settings.runAs === undefined ? command : `runuser -u ${shellQuote(settings.runAs)} -- ${command}`;
}
