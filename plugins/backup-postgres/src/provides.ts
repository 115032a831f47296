/**
 * What this plugin provides besides its hooks: the `backup` section of parako.json it owns
 * when `backup.type` is "postgres" (docs/backups/postgres.md), and what that backs up.
 */
import {defineProvider, z} from 'parako';

import {describeDatabase} from './postgres.js';

const nonEmpty = z.string().min(1);

export const settingsSchema = z.strictObject({
  type: z.literal('postgres'),
  database: nonEmpty.optional().describe('the database to dump over the local socket, or the one to pick with url'),
  url: nonEmpty.optional().describe('a libpq connection URL instead of the socket; may hold a password (keep it in the environment: "${DATABASE_URL}")'),
  runAs: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_-]*\$?$/, 'must be a system user name')
    .optional()
    .describe('the system user pg_dump runs as (default postgres without url)'),
});

export type PostgresSettings = z.output<typeof settingsSchema>;

export const provider = defineProvider<PostgresSettings>({
  settings: {key: 'backup', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  backup: {describe: describeDatabase},
});

export default provider;
