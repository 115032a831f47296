/**
 * The backup this plugin takes before a migration (docs/backups/postgres.md): pg_dump of the
 * database into a custom-format archive, read back with pg_restore --list. The hooks and their
 * messages come from the SDK's defineBackup.
 */
import {defineBackup} from 'parako';

import {checkArchive, connectionOf, describeDatabase, dump, restoreCommand} from './postgres.js';
import {type PostgresSettings, provider} from './provides.js';

export const backup = defineBackup<PostgresSettings>({
  plugin: '@parako/plugin-backup-postgres',
  ext: 'dump',
  settingsOf: provider.settingsOf,
  describe: describeDatabase,
  method: 'with pg_dump --no-owner --format=custom',
  preflight: async (_ctx, settings) => {
    connectionOf(settings); // throws for a section that names no database, or a URL that is not postgresql://
  },
  dump: (ctx, settings, file) => dump(ctx, connectionOf(settings), file),
  check: (ctx, settings, file) => checkArchive(ctx, connectionOf(settings), file),
  restoreCommand: (_ctx, settings, path) => restoreCommand(connectionOf(settings), path),
});
