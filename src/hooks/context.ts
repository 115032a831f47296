/** The hook context and its parts are the SDK's (src/sdk/contract.ts); the core builds them. */
export type {BackupIntent, HookContext, HookFunction, HookPoint, HookResult, Outcome, Release} from '../sdk/contract.js';
