/**
 * The backup this plugin takes before a migration (docs/backups/mongo.md): a gzip'd mongodump
 * archive, inflated to its end to check it. The hooks and their messages come from the SDK's
 * defineBackup.
 */
import {defineBackup} from 'parako';

import {checkArchive, dumpArchive, restoreCommand} from './mongodump.js';
import {describeDatabase, type MongoSettings, provider} from './provides.js';

export const backup = defineBackup<MongoSettings>({
  plugin: '@parako/plugin-backup-mongo',
  ext: 'archive',
  settingsOf: provider.settingsOf,
  describe: describeDatabase,
  method: 'with mongodump --archive --gzip',
  dump: (ctx, settings, file) => dumpArchive(ctx, settings.uri, file),
  check: (_ctx, _settings, file) => checkArchive(file),
  restoreCommand: (_ctx, settings, path) => restoreCommand(settings.uri, path),
});
