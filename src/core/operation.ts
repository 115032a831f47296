import type {Dispatcher} from 'undici';

import {InterruptedError} from './errors.js';
import type {HostConfig} from './config.js';
import type {BackupRecord, Outcome} from './history.js';
import type {Layout, ReleaseSize} from './layout.js';
import type {Logger} from './logger.js';
import type {Release} from '../hooks/context.js';
import type {HookRunner} from '../hooks/runner.js';

/** Human output for the operator on stdout; silent under --json. */
export interface Reporter {
  say(line: string): void;
  /** Download progress; drawn as a bar on a TTY only. */
  progress(received: number, total: number): void;
  progressDone(): void;
  /** Asks a yes/no question on a TTY; undefined when nobody can be asked (no TTY, --json). */
  confirm(question: string): Promise<boolean | undefined>;
}

/** Everything an operation needs from the outside world, so the engine runs without oclif. */
export interface OperationEnv {
  layout: Layout;
  config: HostConfig;
  log: Logger;
  hooks: HookRunner;
  http: Dispatcher;
  out: Reporter;
  /** Aborted on SIGINT/SIGTERM. Honoured up to the swap; after it, the operation finishes. */
  signal: AbortSignal;
  /** Scratch space outside the install dir (dry runs). */
  tmpDir: string;
}

/** What a command prints and returns as `--json`. */
export interface OperationResult {
  code: number;
  outcome: Outcome | 'dry-run' | 'held' | 'update-available' | 'history' | 'status' | 'releases' | 'pruned' | 'verified' | 'scaffolded' | 'hooks' | 'scheduled' | 'unscheduled';
  message: string;
  from: string | null;
  to: string | null;
  migrationRan?: boolean;
  backup?: BackupRecord | null;
  next?: string;
  [key: string]: unknown;
}

export function throwIfAborted(signal: AbortSignal, before: string): void {
  if (signal.aborted) {
    throw new InterruptedError(`interrupted before ${before}; nothing was changed`, {next: 'run the command again when ready'});
  }
}

/** Everything one running operation knows (held by its Pipeline); the journal and the hook contexts are built from it. */
export interface OperationState {
  operation: 'update' | 'rollback';
  startedAt: number;
  from?: string;
  to: string;
  records: Record<string, unknown>;
  swapped: boolean;
  migrationRan: boolean;
  /** A release dir this run created (removed again if the run fails before its swap sticks). */
  createdRelease?: string;
  /** Its size as staging counted it, recorded for status once the run keeps the release. */
  createdSize?: ReleaseSize;
  /** The releases as hooks see them, manifests included once known. */
  releases: {from?: Release; to: Release};
}
