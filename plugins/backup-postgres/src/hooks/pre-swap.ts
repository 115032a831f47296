/**
 * pre-swap (DESIGN §6 step 7) with `backup.type: "postgres"`: when this update wants a backup
 * (the release declares a migration, or --backup), dump the database before anything changes
 * it. Any failure throws: the update stops with code 6 and nothing is swapped.
 */
import {type HookContext, prepareBackupFile, refuseUnsafeBackupDir} from 'parako';

import {checkArchive, connectionOf, dump, formatSize, PLUGIN, restoreCommand} from '../postgres.js';

export default async function preSwap({ctx}: {ctx: HookContext}): Promise<void> {
  const settings = ctx.config.backup;
  if (settings?.type !== 'postgres') return; // another backup plugin, or none configured
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup; --no-backup: the core warns
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const connection = connectionOf(settings);
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'dump'});
  let size: number;
  let objects: number;
  try {
    await dump(ctx, connection, target.tempPath);
    objects = await checkArchive(ctx, connection, target.tempPath);
    size = await target.commit();
  } catch (error) {
    await target.discard();
    throw new Error(`${(error as Error).message}\nno backup was taken and the partial file was removed`, {cause: error});
  }
  const restore = restoreCommand(connection, target.path);
  ctx.record('backup', {plugin: PLUGIN, path: target.path, size, restore});
  ctx.log.info({path: target.path, size, objects}, 'database backed up');
  ctx.say(`backed up ${connection.label} to ${target.path}: ${formatSize(size)}, ${objects} objects (checked with pg_restore --list)\n  restore it with: ${restore}`);
}
