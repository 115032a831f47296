/**
 * A backup plugin from four functions: dump the database into a file, check the file, say how
 * to restore it, and (optionally) what must hold before dumping. `defineBackup` gives the two
 * hooks every backup plugin needs: post-verify, which in a dry run records what would be backed
 * up where (the plan prints it), and pre-swap, which takes the backup when the update wants one, in a private file
 * renamed into place only once checked, or stops the update before anything changed.
 */
import type {HookContext, HookFunction} from './contract.js';
import {defineHook} from './define-hook.js';
import {PluginError} from './errors.js';
import type {InstallView} from './provider.js';
import {formatSize} from './text.js';

export interface BackupDriver<S> {
  /** The plugin's package name: history records it as the backup's `plugin`. */
  plugin: string;
  /** The backup file's extension: `dump`, `db`, `archive`, `sql`. */
  ext: string;
  /** Reads this plugin's section (ctx.settings, already validated). */
  settingsOf(ctx: HookContext): S;
  /** What it backs up, for messages: `PostgreSQL database shop`. */
  describe(settings: S, install: InstallView): string;
  /** How, for the dry run's plan line: `with pg_dump --format=custom`. */
  method: string;
  /** Checks that can fail before anything is written (the database exists, the tool is installed). */
  preflight?(ctx: HookContext, settings: S): Promise<void>;
  /** Writes the backup into `file` (created 0600, empty). */
  dump(ctx: HookContext, settings: S, file: string): Promise<void>;
  /** Reads the written file back; returns what it found, for the message (`12 tables, checked with …`). */
  check(ctx: HookContext, settings: S, file: string): Promise<string>;
  /** The shell command an operator runs to put the database back from `path`. */
  restoreCommand(ctx: HookContext, settings: S, path: string): string;
}

export interface BackupHooks {
  postVerify: HookFunction;
  preSwap: HookFunction;
}

export function defineBackup<S>(driver: BackupDriver<S>): BackupHooks {
  const advice = `fix what ${driver.plugin} reports above, or, knowing there is then nothing to restore, update with --no-backup`;

  const postVerify = defineHook('post-verify', async ({ctx}) => {
    if (!ctx.dryRun || ctx.backup?.wanted !== true) return;
    const settings = driver.settingsOf(ctx);
    ctx.backups.checkFolder();
    const path = ctx.backups.pathFor(driver.ext, '<UTC time>');
    // The plan prints one backup line from this record; saying it here too would print it twice.
    ctx.record('backup', {plugin: driver.plugin, path, method: driver.method});
    // A dry run changes nothing, so what would stop the update is a warning here.
    await driver.preflight?.(ctx, settings).catch((error: unknown) => ctx.say(`warning: ${(error as Error).message}; the update would stop with code 6`));
  });

  const preSwap = defineHook('pre-swap', async ({ctx}) => {
    if (ctx.backup?.wanted !== true) return; // no migration and no --backup, or --no-backup: the core says so
    const settings = driver.settingsOf(ctx);
    ctx.backups.checkFolder(); // its own advice: the folder, not the database, is at fault
    const what = driver.describe(settings, ctx);
    let size: number;
    let found: string;
    let path: string;
    try {
      await driver.preflight?.(ctx, settings);
      const file = await ctx.backups.prepare(driver.ext);
      path = file.path;
      try {
        await driver.dump(ctx, settings, file.tempPath);
        found = await driver.check(ctx, settings, file.tempPath);
        size = await file.commit();
      } catch (error) {
        await file.discard(); // nothing that could pass for a backup is left behind
        throw error;
      }
    } catch (error) {
      throw new PluginError(`the backup of ${what} failed, so the update stops before the swap: ${(error as Error).message}\nno backup was taken and nothing was changed`, {next: advice, cause: error});
    }
    const restore = driver.restoreCommand(ctx, settings, path);
    ctx.record('backup', {plugin: driver.plugin, path, size, restore});
    ctx.log.info({path, size}, 'backed up');
    ctx.say(`backed up ${what} to ${path}: ${formatSize(size)}, ${found}\n  restore with: ${restore}`);
  });

  return {postVerify, preSwap};
}
