/**
 * pre-swap with `backup.type: "postgres"`: when this update wants a backup (the release
 * declares a migration, or --backup), dump the database before anything changes it. Any
 * failure throws: the update stops with code 6 and nothing is swapped (docs/backups/postgres.md).
 */
import {defineHook, formatSize, type HookContext, PluginError, prepareBackupFile, refuseUnsafeBackupDir} from 'parako';

import {checkArchive, connectionOf, dump, PLUGIN, restoreCommand} from '../postgres.js';
import {type PostgresSettings, settingsOf} from '../settings.js';

export default defineHook('pre-swap', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (settings === undefined) return; // another backup plugin, or none configured
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup; --no-backup: the core warns
  refuseUnsafeBackupDir(ctx, PLUGIN); // throws with its own advice about the folder
  try {
    await backUp(ctx, settings);
  } catch (error) {
    throw new PluginError((error as Error).message, {next: `fix what ${PLUGIN} reports above, or, knowing there is then nothing to restore, update with --no-backup`, cause: error});
  }
});

/** Dumps into a 0600 file, checks it with pg_restore --list, and records how to restore it. */
async function backUp(ctx: HookContext, settings: PostgresSettings): Promise<void> {
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
