/**
 * pre-swap for MongoDB (`backup.type: "mongo"`): when the update wants a backup (the release
 * declares a migration, or --backup), dump the database into a 0600 archive under backups/,
 * check that it is a whole gzip'd mongodump archive, and only then let the swap go ahead. Any
 * failure stops the update (code 6) with nothing swapped (docs/backups/mongo.md).
 */
import {defineHook, formatSize, type HookContext, maskUrl, PluginError, prepareBackupFile, refuseUnsafeBackupDir} from 'parako';

import {checkArchive, dumpArchive, PLUGIN, restoreCommand} from '../mongodump.js';
import {type MongoSettings, settingsOf} from '../settings.js';

export default defineHook('pre-swap', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (settings === undefined) return; // another database's plugin, or no backup configured
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup, or --no-backup
  refuseUnsafeBackupDir(ctx, PLUGIN); // throws with its own advice about the folder
  try {
    await backUp(ctx, settings);
  } catch (error) {
    throw new PluginError((error as Error).message, {next: `fix what ${PLUGIN} reports above, or, knowing there is then nothing to restore, update with --no-backup`, cause: error});
  }
});

/** Dumps into a 0600 archive, checks it, and records how to restore it. */
async function backUp(ctx: HookContext, settings: MongoSettings): Promise<void> {
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'archive'});
  let size: number;
  try {
    await dumpArchive(ctx, settings.uri, target.tempPath);
    await checkArchive(target.tempPath);
    size = await target.commit();
  } catch (error) {
    await target.discard(); // a failed dump leaves no file that could be mistaken for a backup
    throw error;
  }
  const restore = restoreCommand(settings.uri, target.path);
  ctx.record('backup', {plugin: PLUGIN, path: target.path, size, restore});
  ctx.log.info({path: target.path, size}, 'mongodump archive written and checked');
  ctx.say(`backed up ${maskUrl(settings.uri)} to ${target.path}: ${formatSize(size)}\n  restore with: ${restore}`);
}
