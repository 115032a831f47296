/**
 * The one error hierarchy of parako. Every failure an operator can meet is one of these, and
 * each carries the exit code of architecture.md §8; `exitCodeOf` is the only place that maps an error to
 * the process exit.
 */

export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  verification: 3,
  locked: 4,
  refused: 5,
  hookFailed: 6,
  rolledBack: 7,
  unhealthy: 8,
  /** `parako check` only: a newer release this host may install is in the feed. */
  updateAvailable: 9,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetails {
  /** What the operator should run or check next. */
  next?: string;
  cause?: unknown;
}

export abstract class ParakoError extends Error {
  abstract readonly code: ExitCode;
  /** A short machine-readable reason, stable across releases (used in --json output). */
  abstract readonly reason: string;
  readonly next?: string;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.name = new.target.name;
    this.next = details.next;
  }
}

/** Bad flags or a bad parako.json. Nothing was touched. */
export class ConfigError extends ParakoError {
  readonly code = ExitCode.usage;
  readonly reason = 'config';
}

export class UsageError extends ParakoError {
  readonly code = ExitCode.usage;
  readonly reason = 'usage';
}

/** The feed, the download or the artifact could not be trusted or fetched. Nothing was installed. */
export class DownloadError extends ParakoError {
  readonly code = ExitCode.verification;
  readonly reason = 'download';
}

export class VerificationError extends ParakoError {
  readonly code = ExitCode.verification;
  readonly reason = 'verification';
}

/** The archive holds something that must never be extracted (path escape, device, bomb). */
export class UnsafeArchiveError extends ParakoError {
  readonly code = ExitCode.verification;
  readonly reason = 'unsafe-archive';
}

export class LockHeldError extends ParakoError {
  readonly code = ExitCode.locked;
  readonly reason = 'locked';
}

/** parako refuses on purpose: source install, downgrade, rollback over a migration, unknown target. */
export class RefusedError extends ParakoError {
  readonly code = ExitCode.refused;
  readonly reason = 'refused';
}

/** A gating hook vetoed, failed or timed out before the swap (or the migration failed). */
export class HookError extends ParakoError {
  readonly code = ExitCode.hookFailed;
  readonly reason = 'hook';
  constructor(
    readonly point: string,
    readonly plugin: string,
    message: string,
    details: ErrorDetails = {},
  ) {
    super(message, details);
  }
}

export class MigrationError extends ParakoError {
  readonly code = ExitCode.hookFailed;
  readonly reason = 'migration';
}

/** An operation was interrupted by SIGINT/SIGTERM before it changed anything. */
export class InterruptedError extends ParakoError {
  readonly code = ExitCode.unexpected;
  readonly reason = 'interrupted';
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof ParakoError ? error.code : ExitCode.unexpected;
}

/**
 * How an update or rollback that was not stopped by an error ends: the exit code and the
 * `--json` reason of each outcome, in one table (architecture.md §8). A run stopped by an
 * error ends `failed`, with the code and reason its error class carries (failureOf).
 */
export const ENDINGS = {
  installed: {code: ExitCode.ok, reason: undefined},
  updated: {code: ExitCode.ok, reason: undefined},
  'up-to-date': {code: ExitCode.ok, reason: undefined},
  'rolled-back': {code: ExitCode.ok, reason: undefined},
  'auto-rolled-back': {code: ExitCode.rolledBack, reason: 'rolled-back'},
  unhealthy: {code: ExitCode.unhealthy, reason: 'unhealthy'},
  /** Written by the next run's recovery for a run that was killed (recover.ts). */
  interrupted: {code: ExitCode.unexpected, reason: 'interrupted'},
} as const satisfies Record<string, {code: ExitCode; reason: string | undefined}>;
export type Ending = keyof typeof ENDINGS;

/** The exit code, `--json` reason and next step of a run stopped by `error`. */
export function failureOf(error: unknown, fallbackNext: string): {code: ExitCode; reason: string; next: string} {
  if (error instanceof ParakoError) return {code: error.code, reason: error.reason, next: error.next ?? fallbackNext};
  return {code: ExitCode.unexpected, reason: 'unexpected', next: fallbackNext};
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The disk filled up while downloading or staging; what was being written was removed. */
export class DiskFullError extends ParakoError {
  readonly code = ExitCode.unexpected;
  readonly reason = 'disk-full';
}

/** Staging failed for a reason of this host (permissions, a read-only fs). The staging dir was removed. */
export class StageError extends ParakoError {
  readonly code = ExitCode.unexpected;
  readonly reason = 'stage';
}
