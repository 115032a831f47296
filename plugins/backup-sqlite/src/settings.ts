/** The `backup` section of parako.json this plugin reads (docs/backups/sqlite.md). */
import type {HookContext} from 'parako';

export interface SqliteSettings {
  type: 'sqlite';
  /** The app's database file, relative to the install dir unless absolute. */
  path: string;
}

/** This plugin's settings when parako.json selects it (`backup.type: "sqlite"`), else undefined. */
export function settingsOf(ctx: Pick<HookContext, 'config'>): SqliteSettings | undefined {
  const backup = ctx.config.backup;
  // parako validates the backup section's keys before any hook runs, so they are as typed here.
  return backup?.type === 'sqlite' ? (backup as unknown as SqliteSettings) : undefined;
}
