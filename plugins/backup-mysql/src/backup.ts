/**
 * The backup this plugin takes before a migration (docs/backups/mysql.md): mariadb-dump (or
 * mysqldump) of the database as SQL in one transaction, read back for its completion line.
 * The hooks and their messages come from the SDK's defineBackup.
 */
import {defineBackup} from 'parako';

import {checkDump, describeDatabase, dump, preflight, restoreCommand} from './mysql.js';
import {type MysqlSettings, provider} from './provides.js';

export const backup = defineBackup<MysqlSettings>({
  plugin: '@parako/plugin-backup-mysql',
  ext: 'sql',
  settingsOf: provider.settingsOf,
  describe: describeDatabase,
  method: 'with mariadb-dump (or mysqldump) --single-transaction',
  preflight: (_ctx, settings) => preflight(settings),
  dump,
  check: (_ctx, _settings, file) => checkDump(file),
  restoreCommand: (_ctx, settings, path) => restoreCommand(settings, path),
});
