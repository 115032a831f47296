/**
 * What this plugin provides besides its hooks: the `backup` section of parako.json it owns
 * when `backup.type` is "mysql" (docs/backups/mysql.md), and what that backs up.
 */
import {defineProvider, z} from 'parako';

import {describeDatabase} from './mysql.js';

const absolutePath = z.string().regex(/^\//, 'must be an absolute path');

export const settingsSchema = z
  .strictObject({
    type: z.literal('mysql'),
    // A leading "-" would make the name an option of mariadb-dump and mariadb.
    database: z
      .string({error: (issue) => (issue.input === undefined ? 'is required: the database to dump' : undefined)})
      .min(1).max(64).regex(/^[^-]/, 'must not start with "-"').describe('the database to dump'),
    host: z.string().min(1).optional().describe('the server\'s host name or IP address; default: the local socket'),
    port: z.number().int().min(1).max(65535).optional().describe('the server\'s TCP port (default 3306)'),
    socket: absolutePath.optional().describe('the server\'s Unix socket, instead of host and port (default: the client\'s, /run/mysqld/mysqld.sock on Debian)'),
    user: z.string().min(1).optional().describe('the account to log in as (default: the system user the dump runs as)'),
    passwordFile: absolutePath.optional().describe("a file holding the account's password (one line, readable by root only)"),
    optionFile: absolutePath.optional().describe('a client option file with the connection and credentials, e.g. /etc/mysql/debian.cnf (passed as --defaults-extra-file)'),
    runAs: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_-]*\$?$/, 'must be a system user name')
      .optional()
      .describe('the system user the dump runs as, for an account that logs in by unix_socket (default root)'),
    // Named so that the refusal says where the password goes instead of "unrecognized key".
    password: z
      .never({error: 'parako.json never holds the password: put it in a file named by backup.passwordFile, or in an option file (backup.optionFile, or ~/.my.cnf of the user the dump runs as)'})
      .optional()
      .describe('not allowed: use passwordFile or optionFile'),
  })
  .superRefine((settings, issues) => {
    const refuse = (key: string, message: string): void => void issues.addIssue({code: 'custom', path: [key], message});
    if (settings.socket !== undefined && (settings.host !== undefined || settings.port !== undefined)) refuse('socket', 'is for a local server: give either socket, or host and port');
    if (settings.passwordFile !== undefined && settings.optionFile !== undefined) refuse('passwordFile', 'cannot be combined with optionFile: put the password into the option file');
    // runAs is for unix_socket logins (the account is the system user), which take no password.
    if (settings.passwordFile !== undefined && settings.runAs !== undefined) refuse('passwordFile', 'cannot be combined with runAs: runAs is for an account that logs in by unix_socket, without a password');
  });

export type MysqlSettings = z.output<typeof settingsSchema>;

export const provider = defineProvider<MysqlSettings>({
  settings: {key: 'backup', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  backup: {describe: describeDatabase},
});

export default provider;
