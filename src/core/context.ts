import type {HookContext, Outcome, Release} from '../hooks/context.js';
import type {BaseContext} from '../hooks/runner.js';
import {execCommand} from './exec.js';
import type {BackupRecord} from './history.js';
import type {OperationEnv, OperationState} from './operation.js';
import {type ReleaseManifest, readManifestFromDir} from './release-manifest.js';

/** Builds the context every hook of this operation receives (architecture.md §5). */
export function hookContext(
  env: OperationEnv,
  state: OperationState,
  releases: {from?: Release; to: Release},
  signal: AbortSignal,
  extra: {dryRun?: boolean; outcome?: Outcome} = {},
): BaseContext {
  return {
    operation: state.operation,
    dryRun: extra.dryRun ?? false,
    app: env.config.app,
    dir: env.layout.dir,
    from: releases.from,
    to: releases.to,
    config: env.config,
    signal,
    outcome: extra.outcome,
    exec: (command, args, options = {}) => execCommand(command, args, {...options, log: env.log, signal}),
    record: (key, value) => {
      state.records[key] = value;
    },
    say: (message) => env.out.say(message),
  } satisfies Omit<HookContext, 'log' | 'point' | 'backups' | 'settings' | 'supervisor'>;
}

export function releaseRef(env: OperationEnv, version: string, manifest?: ReleaseManifest): Release {
  return {version, path: env.layout.releaseDir(version), manifest};
}

/** The manifest of a retained release, if it can be read (a missing one is not fatal here). */
export async function retainedRelease(env: OperationEnv, version: string | undefined): Promise<Release | undefined> {
  if (version === undefined) return undefined;
  const manifest = await readManifestFromDir(env.layout.releaseDir(version)).catch(() => undefined);
  return releaseRef(env, version, manifest);
}

/** A backup recorded by a plugin under the key `backup`, shaped for the history line. */
export function backupOf(records: Record<string, unknown>): BackupRecord | null {
  const value = records.backup;
  if (value === null || typeof value !== 'object') return null;
  const {plugin, path, restore, size} = value as Record<string, unknown>;
  if (typeof path !== 'string') return null;
  return {
    plugin: typeof plugin === 'string' ? plugin : 'unknown',
    path,
    restore: typeof restore === 'string' ? restore : '',
    size: typeof size === 'number' ? size : undefined,
  };
}
