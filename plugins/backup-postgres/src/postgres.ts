/**
 * The one tool this plugin drives: PostgreSQL's client programs. pg_dump reads the database
 * (as `backup.runAs` over the local socket, or with `backup.url`), pg_restore --list checks
 * what it wrote. A password in `backup.url` goes to pg_dump in PGPASSWORD, never on its
 * command line (visible in `ps`, and parako logs every program's arguments) and never into
 * a message.
 */
import {type HookContext, maskUrl, outputTail, shellQuote} from 'parako';

import type {PostgresSettings} from './provides.js';

/** The socket user when `backup.url` is not set (Debian's postgresql package creates it). */
export const DEFAULT_RUN_AS = 'postgres';

/** How pg_dump and pg_restore reach the database. */
export interface Connection {
  /** `--dbname=…` for pg_dump / pg_restore: a plain name, or the URL without its password. */
  dbnameArg: string;
  runAs: string | undefined;
  /** PGPASSWORD when the URL had one. */
  env: Record<string, string>;
  /** The password, so it can be blanked out of anything a program prints. */
  secret: string | undefined;
}

/**
 * What `backup` in parako.json points at, for messages and the plan: `PostgreSQL database shop
 * (as postgres)`, or the URL with `****` for its password. Never throws: connectionOf says what is wrong.
 */
export function describeDatabase(settings: PostgresSettings): string {
  const {database, url, runAs} = settings;
  if (url !== undefined) return `PostgreSQL database ${database === undefined ? '' : `${database} `}at ${maskUrl(url)}${runAs === undefined ? '' : ` (as ${runAs})`}`;
  if (database === undefined) return 'PostgreSQL (no database named)';
  return `PostgreSQL database ${database} (as ${runAs ?? DEFAULT_RUN_AS})`;
}

/** The connection `backup` in parako.json describes; throws when it names no database. */
export function connectionOf(settings: PostgresSettings): Connection {
  if (settings.url === undefined) {
    if (settings.database === undefined) throw new Error('backup.type is "postgres" but neither backup.database nor backup.url is set in parako.json');
    const runAs = settings.runAs ?? DEFAULT_RUN_AS;
    return {dbnameArg: settings.database, runAs, env: libpqEnvironment(), secret: undefined};
  }
  const {url, password} = splitPassword(settings.url, settings.database);
  return {
    dbnameArg: url,
    runAs: settings.runAs,
    env: {...libpqEnvironment(), ...(password === undefined ? {} : {PGPASSWORD: password})},
    secret: password,
  };
}

/**
 * libpq's PG* variables of the environment parako runs in (PGHOST, PGPORT, PGSSLMODE, …). A
 * program run as another user gets a reset environment, so the ones the operator set to reach
 * the server (docs/backups/postgres.md) are handed on by name, and nothing else of root's.
 */
export function libpqEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => /^PG[A-Z]+$/.test(entry[0]) && entry[1] !== undefined));
}

/**
 * A libpq connection URL without its password (from `user:password@` or `?password=`), with
 * `?dbname=` added when `database` is given (libpq lets a query parameter override the path).
 */
export function splitPassword(url: string, database?: string): {url: string; password?: string} {
  const match = /^(postgres(?:ql)?:\/\/)(?:([^@/?#]*)@)?([^?#]*)(?:\?([^#]*))?$/.exec(url);
  if (match === null) throw new Error(`backup.url must be a postgresql:// connection URL (it is "${maskUrl(url)}")`);
  const [, scheme, userinfo, rest, query] = match;
  let password: string | undefined;
  let user = userinfo;
  if (userinfo !== undefined && userinfo.includes(':')) {
    const colon = userinfo.indexOf(':');
    user = userinfo.slice(0, colon);
    password = decodeURIComponent(userinfo.slice(colon + 1));
  }
  const params = new URLSearchParams(query ?? '');
  if (params.has('password')) {
    password = params.get('password') ?? undefined;
    params.delete('password');
  }
  if (database !== undefined) params.set('dbname', database);
  const search = params.toString();
  return {url: `${scheme}${user === undefined || user === '' ? '' : `${user}@`}${rest}${search === '' ? '' : `?${search}`}`, password};
}

/**
 * `pg_dump --no-owner --format=custom` of the database into `file`. parako opens `file`
 * (stdoutTo), so pg_dump running as the postgres user writes into a folder only root may enter.
 */
export async function dump(ctx: HookContext, connection: Connection, file: string): Promise<void> {
  const result = await ctx.exec('pg_dump', ['--no-owner', '--format=custom', `--dbname=${connection.dbnameArg}`], {
    runAs: connection.runAs,
    // "/": parako's own working directory may be one the postgres user cannot enter.
    cwd: '/',
    env: connection.env,
    stdoutTo: file,
  });
  if (result.code !== 0) {
    throw new Error(`pg_dump failed with exit code ${result.code}${result.signal ? ` (${result.signal})` : ''}${outputTail(result.stderr, [connection.secret])}`);
  }
}

/**
 * `pg_restore --list` of the written archive: it must read as a whole custom-format archive.
 * Says how many objects it holds. Runs as parako's user: it reads only the file.
 */
export async function checkArchive(ctx: HookContext, connection: Connection, file: string): Promise<string> {
  const result = await ctx.exec('pg_restore', ['--list', file], {cwd: '/'});
  if (result.code !== 0) throw new Error(`pg_restore --list cannot read the dump (exit code ${result.code})${outputTail(result.stderr, [connection.secret])}`);
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new Error('pg_restore --list shows nothing in the dump');
  return `${lines.filter((line) => !line.startsWith(';')).length} objects, checked with pg_restore --list`;
}

/**
 * The command an operator runs (as root, which can read the 0600 file) to put the database
 * back as it was: the file is fed on stdin, so pg_restore may run as the socket user.
 * --clean --if-exists drops what the dump recreates; --single-transaction makes it all or nothing.
 */
export function restoreCommand(connection: Connection, file: string): string {
  const restore = `pg_restore --no-owner --clean --if-exists --single-transaction --dbname=${shellQuote(connection.dbnameArg)} < ${shellQuote(file)}`;
  // No password here: pg_restore asks for it on the terminal (or reads PGPASSWORD / ~/.pgpass).
  return connection.runAs === undefined ? restore : `runuser -u ${shellQuote(connection.runAs)} -- ${restore}`;
}
