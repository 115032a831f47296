/**
 * How the password reaches mariadb-dump: in a client option file, never on its command line
 * (`ps` shows that to every user, and parako logs every program's arguments). With
 * `backup.passwordFile`, the password is written into an option file of its own, 0600 in a
 * private folder, for one dump, and removed after it.
 *
 * The client reads ~/.my.cnf after --defaults-extra-file, so a password in root's ~/.my.cnf
 * would win over the one parako.json names. When parako.json names the credentials (a
 * password file or an option file), the dump therefore runs with HOME at that private folder.
 */
import {constants} from 'node:fs';
import {access, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import type {MysqlSettings} from './provides.js';

/** What the client is given besides the connection options: option file arguments (first on its command line), environment, the secret to blank out of its output. */
export interface ClientOptions {
  args: string[];
  env: Record<string, string>;
  secret: string | undefined;
}

/**
 * Runs `use` with the option file and HOME the settings call for, and removes the private
 * folder afterwards, whether `use` succeeds, fails or is aborted.
 */
export async function withClientOptions<T>(settings: MysqlSettings, use: (options: ClientOptions) => Promise<T>): Promise<T> {
  if (settings.passwordFile === undefined && settings.optionFile === undefined) {
    // No credentials in parako.json: the client's own option files (~/.my.cnf of the user it runs as) or unix_socket.
    return use({args: [], env: {}, secret: undefined});
  }
  const password = settings.passwordFile === undefined ? undefined : await readPassword(settings.passwordFile);
  // mkdtemp makes the folder 0700: only root may enter it.
  const home = await mkdtemp(join(tmpdir(), 'parako-mysql-'));
  try {
    let optionFile = settings.optionFile;
    if (password !== undefined) {
      optionFile = join(home, 'client.cnf');
      await writeFile(optionFile, optionFileText(password), {mode: 0o600, flag: 'wx'});
    }
    return await use({args: [`--defaults-extra-file=${optionFile}`], env: {HOME: home}, secret: password});
  } finally {
    await rm(home, {recursive: true, force: true});
  }
}

/** The password file or option file parako.json names can be read (by root: with runAs, the client reads the option file as that user). */
export async function checkCredentials(settings: MysqlSettings): Promise<void> {
  if (settings.passwordFile !== undefined) await readPassword(settings.passwordFile);
  if (settings.optionFile !== undefined) {
    await access(settings.optionFile, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read backup.optionFile ${settings.optionFile}: ${error.code ?? error.message}`);
    });
  }
}

/** The password in `path`: its first line, without the line break. */
export async function readPassword(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read backup.passwordFile ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new Error(`backup.passwordFile ${path} is empty`);
  // An option file value cannot hold a line break, and the C client stops at a NUL.
  if (/[\r\n\0]/.test(password)) throw new Error(`backup.passwordFile ${path} must hold the password alone, on one line`);
  return password;
}

/**
 * A client option file holding `password`, read by mariadb-dump and mysqldump alike
 * (`[client]`). The value is double-quoted, so spaces, `#` and `;` are its own; inside the
 * quotes the client turns `\\` and `\"` back into `\` and `"`.
 */
export function optionFileText(password: string): string {
  return `[client]\npassword="${password.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"\n`;
}
