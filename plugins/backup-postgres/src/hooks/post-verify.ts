/**
 * post-verify in a dry run: say which plugin would back up which database to which file,
 * without connecting to it or writing anything, and refuse a backupDir the update would refuse.
 */
import {backupPath, defineHook, refuseUnsafeBackupDir} from 'parako';

import {connectionOf, PLUGIN} from '../postgres.js';
import {settingsOf} from '../settings.js';

export default defineHook('post-verify', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (settings === undefined || !ctx.dryRun || ctx.backup?.wanted !== true) return;
  const connection = connectionOf(settings); // a config that names no database fails now, not at pre-swap
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const path = backupPath({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'dump', at: '<UTC time>'});
  ctx.record('backup', {plugin: PLUGIN, path});
  ctx.say(`would back up ${connection.label} with pg_dump --no-owner --format=custom to ${path}`);
});
