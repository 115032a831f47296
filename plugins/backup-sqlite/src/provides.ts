/**
 * What this plugin provides besides its hooks: the `backup` section of parako.json it owns
 * when `backup.type` is "sqlite" (docs/backups/sqlite.md), and what that backs up.
 */
import {defineProvider, z} from 'parako';

import {describeDatabase} from './sqlite.js';

export const settingsSchema = z.strictObject({
  type: z.literal('sqlite'),
  path: z.string().min(1).describe("the app's database file, relative to the install dir unless absolute"),
});

export type SqliteSettings = z.output<typeof settingsSchema>;

export const provider = defineProvider<SqliteSettings>({
  settings: {key: 'backup', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  backup: {describe: describeDatabase},
});

export default provider;
