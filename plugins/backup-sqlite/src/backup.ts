/**
 * The backup this plugin takes before a migration (docs/backups/sqlite.md): an online copy of
 * the database with sqlite3's .backup, checked with PRAGMA integrity_check. The hooks and
 * their messages come from the SDK's defineBackup.
 */
import {defineBackup} from 'parako';

import {type SqliteSettings, provider} from './provides.js';
import {backupDatabase, checkIntegrity, databasePath, describeDatabase, requireDatabase, restoreCommand} from './sqlite.js';

export const backup = defineBackup<SqliteSettings>({
  plugin: '@parako/plugin-backup-sqlite',
  ext: 'db',
  settingsOf: provider.settingsOf,
  describe: describeDatabase,
  method: 'with sqlite3 .backup',
  preflight: (ctx, settings) => requireDatabase(databasePath(ctx.dir, settings.path), settings.path),
  dump: (ctx, settings, file) => backupDatabase(ctx, databasePath(ctx.dir, settings.path), file),
  check: (ctx, _settings, file) => checkIntegrity(ctx, file),
  restoreCommand: (ctx, settings, path) => restoreCommand(path, databasePath(ctx.dir, settings.path), ctx.app, ctx.supervisor?.commands()),
});
