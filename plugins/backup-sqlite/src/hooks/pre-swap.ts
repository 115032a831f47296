/**
 * pre-swap for `backup.type: "sqlite"`: when this update wants a backup (the release declares
 * a migration, or --backup), an online copy of the database, checked with integrity_check,
 * kept under backups/ with the command that restores it. Any failure throws, so the update
 * stops with code 6 and nothing is swapped (docs/backups/sqlite.md).
 */
import {defineHook, formatSize, type HookContext, PluginError, prepareBackupFile, refuseUnsafeBackupDir} from 'parako';

import {type SqliteSettings, settingsOf} from '../settings.js';
import {backupDatabase, checkIntegrity, databasePath, PLUGIN, requireDatabase, restoreCommand} from '../sqlite.js';

export default defineHook('pre-swap', async ({ctx}) => {
  const settings = settingsOf(ctx);
  if (settings === undefined) return; // another backup plugin's database, or none
  if (ctx.backup?.wanted !== true) return; // no migration and no --backup, or --no-backup
  refuseUnsafeBackupDir(ctx, PLUGIN); // throws with its own advice about the folder
  try {
    await backUp(ctx, settings);
  } catch (error) {
    throw new PluginError((error as Error).message, {next: `fix what ${PLUGIN} reports above, or, knowing there is then nothing to restore, update with --no-backup`, cause: error});
  }
});

/** Copies the database into a 0600 file, checks the copy, and records how to restore it. */
async function backUp(ctx: HookContext, settings: SqliteSettings): Promise<void> {
  const database = databasePath(ctx, settings.path);
  await requireDatabase(database, settings.path);
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'db'});
  let size: number;
  try {
    await backupDatabase(ctx, database, target.tempPath);
    await checkIntegrity(ctx, target.tempPath);
    size = await target.commit();
  } catch (error) {
    await target.discard(); // the copy and any -journal/-wal sqlite3 left beside it
    throw new Error(`the SQLite backup of ${database} failed, so the update stops before the swap: ${(error as Error).message}`, {cause: error});
  }
  const restore = restoreCommand(ctx.config, ctx.dir, target.path, database);
  ctx.record('backup', {plugin: PLUGIN, path: target.path, size, restore});
  ctx.log.info({database, path: target.path, size}, 'backed up');
  ctx.say(`backed up ${database} to ${target.path} (${formatSize(size)}, integrity_check ok); to restore: ${restore}`);
}
