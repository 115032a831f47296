/**
 * The plugin contract: what a hook receives and may return. This module depends on nothing of
 * parako's core (the core depends on it), so the core can change without breaking a plugin
 * written against it (docs/architecture.md, "The plugin contract").
 */

import type {BackupFiles, SupervisorView} from './provider.js';

/** The hook points, in pipeline order. */
export const HOOK_POINTS = ['pre-download', 'post-verify', 'pre-swap', 'post-swap', 'restart', 'health', 'notify'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

/** A log call: a message, or fields and a message. */
export interface LogFn {
  (message: string): void;
  (fields: Record<string, unknown>, message?: string): void;
}

/** The logger a hook gets: its lines land in the install dir's parako.log, tagged with the plugin. */
export interface PluginLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): PluginLogger;
}

export interface ExecOptions {
  /**
   * A system user name: the command runs with that user's uid, gid and supplementary groups,
   * in a session of its own (no controlling terminal) and with a reset environment (as sudo
   * resets it); `env` is the only way to hand it more.
   */
  runAs?: string;
  cwd?: string;
  /** Added to the environment: parako's own, or with `runAs` the reset one. */
  env?: Record<string, string>;
  /** Lines of output are streamed here as they come. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Send stdout into this file instead of capturing it (a dump of any size). parako opens it,
   * so a program running as another user can write a file in a folder only root may enter.
   */
  stdoutTo?: string;
}

export interface ExecResult {
  code: number;
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
}

/** `release.json` of a release, as signed by its publisher. */
export interface ReleaseManifest {
  app: string;
  version: string;
  migration: {command: string; reverse?: string} | null;
  breaking: string[];
  notes: string;
}

/** A release as hooks see it. `manifest` is known once the artifact is verified. */
export interface Release {
  version: string;
  /** releases/v<version> (it may not exist yet before the stage phase). */
  path: string;
  manifest?: ReleaseManifest;
}

/** A backup a plugin took, as history and the outcome keep it. */
export interface BackupRecord {
  /** The package name of the plugin that took it. */
  plugin: string;
  path: string;
  /** The command that puts it back, for the operator to paste. */
  restore: string;
  size?: number;
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

/**
 * `wanted` is true when the release declares a migration or `--backup` forced it; backup
 * plugins act only then. `skipped` is `--no-backup`.
 */
export interface BackupIntent {
  wanted: boolean;
  forced: boolean;
  skipped: boolean;
}

/**
 * The host's parako.json as a plugin may read it. The core validates its own keys; a section
 * that belongs to a plugin (`supervisor`, `backup`, `plugins.<name>`) is that plugin's to
 * validate, and arrives validated as `ctx.settings`.
 */
export interface HostSettings {
  app: string;
  backupDir?: string;
  keepReleases: number;
  health?: {url: string; timeoutSeconds: number; expectVersion?: boolean};
  supervisor?: {type: string; [key: string]: unknown};
  backup?: {type: string; [key: string]: unknown};
  plugins?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What every hook receives as `{ctx}`. */
export interface HookContext {
  point: HookPoint;
  operation: 'update' | 'rollback';
  dryRun: boolean;
  app: string;
  /** The install dir. */
  dir: string;
  from?: Release;
  to: Release;
  /** The whole parako.json (core keys validated by parako, plugin sections by their plugins). */
  config: HostSettings;
  /**
   * This plugin's own section of parako.json, validated by the settings module the plugin
   * declares (`parako.provides` in its package.json); undefined when it declares none.
   */
  settings?: unknown;
  /** A logger tagged with the plugin; lines go to parako.log. */
  log: PluginLogger;
  /** Aborted on SIGINT/SIGTERM or when the hook's timeout is reached. */
  signal: AbortSignal;
  /** Run a program with an argument array; `runAs` a system user. Output is captured and logged. */
  exec(command: string, args: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Keep a fact (a backup's path, say) in the history line and the outcome. */
  record(key: string, value: unknown): void;
  /** Tell the operator something on stdout, as a line prefixed with `[<plugin>] `. */
  say(message: string): void;
  /** pre-swap (and post-verify in a dry run): whether this update wants a database backup. */
  backup?: BackupIntent;
  /** Where backups go and how a backup file is written safely (docs/hooks.md). */
  backups: BackupFiles;
  /**
   * The plugin that runs the service (the one acting on `supervisor.type`), to ask how to stop
   * and start it; undefined when none is configured.
   */
  supervisor?: SupervisorView;
  /** notify only. */
  outcome?: Outcome;
}

/** A hook may veto by throwing, or by returning `{veto: "reason"}`. */
export type HookResult = void | undefined | {veto?: string};

export type HookFunction = (options: {ctx: HookContext}) => Promise<HookResult> | HookResult;
