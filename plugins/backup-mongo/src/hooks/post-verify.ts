/**
 * post-verify in a dry run: say which file a real update would back MongoDB up to, so the
 * plan names this plugin and the path, and refuse a backupDir the update would refuse.
 * Nothing is created (a dry run changes nothing).
 */
import {backupPath, defineHook, refuseUnsafeBackupDir} from 'parako';

import {PLUGIN, restoreCommand} from '../mongodump.js';
import {settingsOf} from '../settings.js';

export default defineHook('post-verify', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (!ctx.dryRun || settings === undefined || ctx.backup?.wanted !== true) return;
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const path = backupPath({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'archive', at: '<UTC time>'});
  ctx.record('backup', {plugin: PLUGIN, path, restore: restoreCommand(settings.uri, path), dryRun: true});
});
