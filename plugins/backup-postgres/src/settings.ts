/** The `backup` section of parako.json this plugin reads (docs/backups/postgres.md). */
import type {HookContext} from 'parako';

export interface PostgresSettings {
  type: 'postgres';
  /** The database to dump over the local socket, or the one to pick with `url`. */
  database?: string;
  /** A libpq connection URL instead of the socket; may hold a password. */
  url?: string;
  /** The system user pg_dump runs as. */
  runAs?: string;
}

/** This plugin's settings when parako.json selects it (`backup.type: "postgres"`), else undefined. */
export function settingsOf(ctx: Pick<HookContext, 'config'>): PostgresSettings | undefined {
  const backup = ctx.config.backup;
  // parako validates the backup section's keys before any hook runs, so they are as typed here.
  return backup?.type === 'postgres' ? (backup as PostgresSettings) : undefined;
}
