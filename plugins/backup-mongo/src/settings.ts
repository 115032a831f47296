/** The `backup` section of parako.json this plugin reads (docs/backups/mongo.md). */
import type {HookContext} from 'parako';

export interface MongoSettings {
  type: 'mongo';
  /** The connection string (mongodb:// or mongodb+srv://); may hold a password. */
  uri: string;
}

/** This plugin's settings when parako.json selects it (`backup.type: "mongo"`), else undefined. */
export function settingsOf(ctx: Pick<HookContext, 'config'>): MongoSettings | undefined {
  const backup = ctx.config.backup;
  // parako validates the backup section's keys before any hook runs, so they are as typed here.
  return backup?.type === 'mongo' ? (backup as unknown as MongoSettings) : undefined;
}
