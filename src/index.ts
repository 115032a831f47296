/**
 * The plugin SDK: what a parako plugin imports from 'parako'. A plugin is an oclif plugin
 * whose package.json declares `oclif.hooks` keyed by hook point (DESIGN §7); each hook module
 * default-exports a function of `{ctx}`. `defineHook` only adds types: a plain JavaScript
 * function of the same shape works the same.
 *
 *   import {defineHook} from 'parako';
 *   export default defineHook('health', async ({ctx}) => {
 *     const result = await ctx.exec('pg_isready', ['-q']);
 *     if (result.code !== 0) return {veto: 'the database does not answer'};
 *   });
 */
import type {HookPoint} from './core/config.js';
import type {HookContext, HookResult} from './hooks/context.js';

export type {BackupIntent, HookContext, HookFunction, HookResult, Outcome, Release} from './hooks/context.js';
export type {HookPoint, HostConfig, VerifyPolicy} from './core/config.js';
export type {ExecOptions, ExecResult} from './core/exec.js';
export type {BackupRecord} from './core/history.js';
export type {Logger} from './core/logger.js';
export type {ReleaseManifest} from './core/release-manifest.js';
export {HOOK_POINTS} from './core/config.js';
export {HookError, ParakoError} from './core/errors.js';

/** The context a hook at `P` receives: `outcome` is there for notify, `backup` for pre-swap. */
export type HookContextAt<P extends HookPoint> = HookContext & {point: P} & (P extends 'notify' ? {outcome: NonNullable<HookContext['outcome']>} : unknown);

/** A typed hook for one point. The returned function is what the hook module default-exports. */
export function defineHook<P extends HookPoint>(
  point: P,
  run: (options: {ctx: HookContextAt<P>}) => Promise<HookResult> | HookResult,
): (options: {ctx: HookContext}) => Promise<HookResult> {
  return async (options) => {
    if (options.ctx.point !== point) {
      throw new Error(`this hook was written for ${point} but is registered under ${options.ctx.point} in oclif.hooks`);
    }
    return run(options as {ctx: HookContextAt<P>});
  };
}

export {type BackupName, type BackupTarget, backupPath, prepareBackupFile, refuseUnsafeBackupDir} from './core/backup-file.js';
