/**
 * What this plugin provides besides its hooks: the `backup` section of parako.json it owns
 * when `backup.type` is "mongo" (docs/backups/mongo.md), and what that backs up.
 */
import {defineProvider, maskUrl, z} from 'parako';

export const settingsSchema = z.strictObject({
  type: z.literal('mongo'),
  uri: z.string().min(1).describe('the connection string, mongodb:// or mongodb+srv://; may hold a password (keep it in the environment: "${MONGO_URI}")'),
});

export type MongoSettings = z.output<typeof settingsSchema>;

/** What it backs up, for messages and the plan: the connection string, `****` for its password. */
export function describeDatabase(settings: MongoSettings): string {
  return maskUrl(settings.uri);
}

export const provider = defineProvider<MongoSettings>({
  settings: {key: 'backup', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  backup: {describe: describeDatabase},
});

export default provider;
