/**
 * What `import … from 'parako'` gives a plugin: the SDK (src/sdk/), which stands alone, plus
 * the names 0.1.0 exported, kept so that in-house plugins written against it still load
 * (CHANGELOG.md says which are deprecated and what replaces them).
 */
export * from './sdk/index.js';

// 0.1.0 names. `Logger` and `HostConfig` are the SDK's PluginLogger and HostSettings now.
export type {PluginLogger as Logger, HostSettings as HostConfig} from './sdk/index.js';
export type {VerifyPolicy} from './core/config.js';
export {HookError, ParakoError} from './core/errors.js';
export {type BackupName, type BackupTarget, backupPath, prepareBackupFile, refuseUnsafeBackupDir} from './core/backup-file.js';
