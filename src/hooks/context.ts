import type {HostConfig, HookPoint} from '../core/config.js';
import type {ExecOptions, ExecResult} from '../core/exec.js';
import type {BackupRecord} from '../core/history.js';
import type {Logger} from '../core/logger.js';
import type {ReleaseManifest} from '../core/release-manifest.js';

export type {HookPoint} from '../core/config.js';

/** A release as hooks see it. `manifest` is known once the artifact is verified. */
export interface Release {
  version: string;
  /** releases/v<version> (it may not exist yet before the stage phase). */
  path: string;
  manifest?: ReleaseManifest;
}

/** How an operation ended, given to `notify` hooks. */
export interface Outcome {
  outcome: string;
  code: number;
  message: string;
  from: string | null;
  to: string | null;
  migrationRan: boolean;
  backup: BackupRecord | null;
  records: Record<string, unknown>;
  durationMs: number;
}

/** What every hook receives as `{ctx}` (DESIGN §7). */
export interface HookContext {
  point: HookPoint;
  operation: 'update' | 'rollback';
  dryRun: boolean;
  app: string;
  /** The install dir. */
  dir: string;
  from?: Release;
  to: Release;
  config: HostConfig;
  /** A pino child logger named after the plugin. */
  log: Logger;
  /** Aborted on SIGINT/SIGTERM or when the hook's timeout is reached. */
  signal: AbortSignal;
  /** Run a program with an argument array; `runAs` a system user. Output is captured and logged. */
  exec(command: string, args: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Keep a fact (a backup's path, say) in the history line and the outcome. */
  record(key: string, value: unknown): void;
  /** Tell the operator something on stdout (the plan, a warning), attributed to the plugin. */
  say(message: string): void;
  /** pre-swap (and post-verify in a dry run): whether this update wants a database backup. */
  backup?: BackupIntent;
  /** notify only. */
  outcome?: Outcome;
}

/**
 * `wanted` is true when the release declares a migration or `--backup` forced it; backup
 * plugins act only then. `skipped` is `--no-backup`.
 */
export interface BackupIntent {
  wanted: boolean;
  forced: boolean;
  skipped: boolean;
}

/** A hook may veto by throwing, or by returning `{veto: "reason"}`. */
export type HookResult = void | undefined | {veto?: string};

export type HookFunction = (options: {ctx: HookContext}) => Promise<HookResult> | HookResult;
