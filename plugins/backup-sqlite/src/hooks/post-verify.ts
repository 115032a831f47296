/**
 * post-verify in a dry run: the plan names this plugin and where the backup would go, and a
 * backupDir the update would refuse is refused now. Nothing is written; the time in the name
 * is only known when the real update runs.
 */
import {backupPath, type HookContext, refuseUnsafeBackupDir} from 'parako';

import {databasePath, PLUGIN, requireDatabase} from '../sqlite.js';

export default async function postVerify({ctx}: {ctx: HookContext}): Promise<void> {
  const backup = ctx.config.backup;
  if (!ctx.dryRun || backup?.type !== 'sqlite' || ctx.backup?.wanted !== true) return;
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const path = backupPath({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'db', at: '<UTC time>'});
  ctx.record('backup', {plugin: PLUGIN, path});
  const database = databasePath(ctx, backup.path);
  // A dry run changes nothing, so a missing database is a warning here; the update itself stops on it.
  await requireDatabase(database, backup.path).catch((error: unknown) => ctx.say(`warning: ${(error as Error).message}; the update would stop with code 6`));
}
