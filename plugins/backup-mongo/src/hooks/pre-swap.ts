/**
 * pre-swap (DESIGN §6 step 7) for MongoDB (`backup.type: "mongo"`): when the update wants a
 * backup (the release declares a migration, or --backup), dump the database into a 0600
 * archive under backups/, check that it is a whole gzip'd mongodump archive, and only then
 * let the swap go ahead. Any failure stops the update (code 6) with nothing swapped.
 */
import {type HookContext, prepareBackupFile, refuseUnsafeBackupDir} from 'parako';

import {checkArchive, dumpArchive, maskUri, PLUGIN, restoreCommand} from '../mongodump.js';

export default async function preSwap({ctx}: {ctx: HookContext}): Promise<void> {
  const backup = ctx.config.backup;
  if (backup?.type !== 'mongo') return; // another database's plugin, or no backup configured
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup, or --no-backup
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'archive'});
  let size: number;
  try {
    await dumpArchive(ctx, backup.uri, target.tempPath);
    await checkArchive(target.tempPath);
    size = await target.commit();
  } catch (error) {
    await target.discard(); // a failed dump leaves no file that could be mistaken for a backup
    throw error;
  }
  const restore = restoreCommand(backup.uri, target.path);
  ctx.record('backup', {plugin: PLUGIN, path: target.path, size, restore});
  ctx.log.info({path: target.path, size}, 'mongodump archive written and checked');
  ctx.say(`backed up ${maskUri(backup.uri)} to ${target.path} (${size} bytes)\n  restore with: ${restore}`);
}
