/**
 * post-verify in a dry run: say which file a real update would back MongoDB up to, so the
 * plan names this plugin and the path, and refuse a backupDir the update would refuse.
 * Nothing is created (a dry run changes nothing).
 */
import {backupPath, type HookContext, refuseUnsafeBackupDir} from 'parako';

import {PLUGIN, restoreCommand} from '../mongodump.js';

export default async function postVerify({ctx}: {ctx: HookContext}): Promise<void> {
  const backup = ctx.config.backup;
  if (!ctx.dryRun || backup?.type !== 'mongo' || ctx.backup?.wanted !== true) return;
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const path = backupPath({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'archive', at: '<UTC time>'});
  ctx.record('backup', {plugin: PLUGIN, path, restore: restoreCommand(backup.uri, path), dryRun: true});
}
