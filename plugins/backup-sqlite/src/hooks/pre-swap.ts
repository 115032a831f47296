/**
 * pre-swap (DESIGN §6 step 7) for `backup.type: "sqlite"`: when this update wants a backup
 * (the release declares a migration, or --backup), an online copy of the database, checked
 * with integrity_check, kept under backups/ with the command that restores it. Any failure
 * throws, so the update stops with code 6 and nothing is swapped.
 */
import {prepareBackupFile, refuseUnsafeBackupDir, type HookContext} from 'parako';

import {backupDatabase, checkIntegrity, databasePath, PLUGIN, requireDatabase, restoreCommand} from '../sqlite.js';

export default async function preSwap({ctx}: {ctx: HookContext}): Promise<void> {
  const backup = ctx.config.backup;
  if (backup?.type !== 'sqlite') return; // another backup plugin's database, or none
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup, or --no-backup
  refuseUnsafeBackupDir(ctx, PLUGIN);
  const database = databasePath(ctx, backup.path);
  await requireDatabase(database, backup.path);
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'db'});
  let size: number;
  try {
    await backupDatabase(ctx, database, target.tempPath);
    await checkIntegrity(ctx, target.tempPath);
    size = await target.commit();
  } catch (error) {
    await target.discard(); // the copy and any -journal/-wal sqlite3 left beside it
    throw new Error(`the SQLite backup of ${database} failed, so the update stops before the swap: ${(error as Error).message}`);
  }
  const restore = restoreCommand(ctx.config, ctx.dir, target.path, database);
  ctx.record('backup', {plugin: PLUGIN, path: target.path, size, restore});
  ctx.log.info({database, path: target.path, size}, 'backed up');
  ctx.say(`backed up ${database} to ${target.path} (${size} bytes, integrity_check ok); to restore: ${restore}`);
}
