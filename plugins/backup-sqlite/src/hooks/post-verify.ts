/**
 * post-verify in a dry run: the plan names this plugin and where the backup would go, and a
 * backupDir the update would refuse is refused now. Nothing is written; the time in the name
 * is only known when the real update runs.
 */
import {backupPath, defineHook, refuseUnsafeBackupDir} from 'parako';

import {settingsOf} from '../settings.js';
import {databasePath, PLUGIN, requireDatabase} from '../sqlite.js';

export default defineHook('post-verify', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (!ctx.dryRun || settings === undefined || ctx.backup?.wanted !== true) return;
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const path = backupPath({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'db', at: '<UTC time>'});
  ctx.record('backup', {plugin: PLUGIN, path});
  const database = databasePath(ctx, settings.path);
  // A dry run changes nothing, so a missing database is a warning here; the update itself stops on it.
  await requireDatabase(database, settings.path).catch((error: unknown) => ctx.say(`warning: ${(error as Error).message}; the update would stop with code 6`));
});
