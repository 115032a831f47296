/**
 * The plugin SDK: what a parako plugin imports from 'parako' (docs/hooks.md is written from it).
 * It depends on nothing of parako's core, and changes only with SDK_VERSION: a plugin written
 * against one major version keeps working with every parako that reports it.
 *
 *   import {defineHook} from 'parako';
 *   export default defineHook('health', async ({ctx}) => {
 *     const result = await ctx.exec('pg_isready', ['-q']);
 *     if (result.code !== 0) return {veto: 'the database does not answer'};
 *   });
 */
export type {
  BackupIntent,
  BackupRecord,
  ExecOptions,
  ExecResult,
  HookContext,
  HookFunction,
  HookPoint,
  HookResult,
  HostSettings,
  LogFn,
  Outcome,
  PluginLogger,
  Release,
  ReleaseManifest,
} from './contract.js';
export {HOOK_POINTS} from './contract.js';
export {defineHook, type HookContextAt} from './define-hook.js';
export {PluginError} from './errors.js';
export {type BackupDriver, type BackupHooks, defineBackup} from './backup.js';
export {
  type BackupCapability,
  type BackupFile,
  type BackupFiles,
  type DefinedProvider,
  defineProvider,
  type InstallView,
  type Provider,
  type SchemaIssue,
  type ServiceCommands,
  type SettingsDeclaration,
  type StandardSchema,
  type SupervisorCapability,
  type SupervisorView,
  validateSettings,
} from './provider.js';
/** zod 4, for a plugin's settings schema: a plugin needs no validation library of its own. */
export {z} from 'zod';
export {
  type Blamed,
  type EachSettleOptions,
  judgeEach,
  NotSettled,
  type Judgement,
  type ServiceSettleOptions,
  type SettleOptions,
  settleService,
  waitUntilEachSettled,
  waitUntilSettled,
} from './settle.js';
export {type AcceptTarget, acceptTargetOf, type Accepted, type AcceptingOptions, NotAccepting, waitUntilAccepting} from './accepting.js';
export {formatSize, maskUrl, outputTail, redact, shellQuote} from './text.js';

/** The SDK's version: its major changes only with a change that breaks plugins (CHANGELOG.md). */
export const SDK_VERSION = '1.0.0';
export {type LoggedLine, type TestContext, testContext} from './testing.js';
