import {rm} from 'node:fs/promises';

import type {HookPoint, Outcome as HookOutcome, Release} from '../hooks/context.js';
import type {BaseContext} from '../hooks/runner.js';
import {backupOf, hookContext} from './context.js';
import {type Ending, ENDINGS, failureOf} from './errors.js';
import {appendHistory} from './history.js';
import {Journal, type JournalEntry, type Phase} from './journal.js';
import {type OperationEnv, type OperationResult, type OperationState, throwIfAborted} from './operation.js';
import {swapCurrent} from './swap.js';

/** A signal nothing aborts: what hooks get once the swap is done (architecture.md §3). */
const PAST_THE_SWAP = new AbortController().signal;

export interface PipelineStart {
  operation: 'update' | 'rollback';
  from?: string;
  to: string;
  releases: {from?: Release; to: Release};
}

/**
 * One running update or rollback (or the dry run of an update): the steps every operation
 * shares are here once — journal a phase and run its hooks, honour signals up to the swap,
 * swap and undo the swap, and end with a history line, the notify hooks and a result whose
 * exit code and reason come from one table (errors.ts ENDINGS / failureOf).
 */
export class Pipeline {
  readonly state: OperationState;

  private constructor(
    readonly env: OperationEnv,
    start: PipelineStart,
    /** Absent in a dry run: nothing is journaled because nothing is changed. */
    private readonly journal: Journal | undefined,
  ) {
    this.state = {
      operation: start.operation, startedAt: Date.now(), from: start.from, to: start.to, records: {}, swapped: false, migrationRan: false,
      releases: start.releases,
    };
  }

  /** A real run: journaled from here on, so a kill at any later point is recovered by the next run. */
  static async begin(env: OperationEnv, start: PipelineStart): Promise<Pipeline> {
    const journal = new Journal(env.layout, env.log);
    await journal.begin({operation: start.operation, from: start.from, to: start.to});
    return new Pipeline(env, start, journal);
  }

  /** The dry run walks the same hook points with `ctx.dryRun`; it journals, swaps and records nothing. */
  static dry(env: OperationEnv, start: PipelineStart): Pipeline {
    return new Pipeline(env, start, undefined);
  }

  get dryRun(): boolean {
    return this.journal === undefined;
  }

  get releases(): {from?: Release; to: Release} {
    return this.state.releases;
  }

  /**
   * The context a hook receives. Signals stop hooks up to the swap; after it (and for notify)
   * the operation finishes, and hooks are stopped only by their own timeouts.
   */
  context(over: {releases?: {from?: Release; to: Release}; outcome?: HookOutcome} = {}): BaseContext {
    const settled = this.state.swapped || over.outcome !== undefined;
    return hookContext(this.env, this.state, over.releases ?? this.releases, settled ? PAST_THE_SWAP : this.env.signal, {
      dryRun: this.dryRun, outcome: over.outcome,
    });
  }

  async phase(phase: Phase, facts: Partial<JournalEntry> = {}): Promise<void> {
    await this.journal?.phase(phase, facts);
  }

  async note(facts: Partial<JournalEntry>): Promise<void> {
    await this.journal?.note(facts);
  }

  /** Journals the hook point as the phase (with `facts`), then runs its hooks; a veto or failure throws. */
  async hooks(point: HookPoint, extra: Partial<BaseContext> = {}, facts: Partial<JournalEntry> = {}): Promise<void> {
    await this.phase(point, facts);
    await this.env.hooks.run(point, {...this.context(), ...extra});
  }

  /** Throws InterruptedError if a signal came: called before each step that changes something. */
  stopIfSignalled(before: string): void {
    throwIfAborted(this.env.signal, before);
  }

  /** Re-aims `current` at the target; from here on the operation finishes whatever signal comes. */
  async swap(): Promise<void> {
    await this.phase('swap');
    await swapCurrent(this.env.layout, this.state.to);
    this.state.swapped = true;
    await this.note({swapped: true});
    this.env.out.say(`current -> releases/v${this.state.to}`);
  }

  /** After a failure before the restart: `current` back where it was. Returns what was done, in words. */
  async undoSwap(): Promise<string | undefined> {
    if (!this.state.swapped) return undefined;
    const {from} = this.state;
    if (from !== undefined) await swapCurrent(this.env.layout, from);
    else await rm(this.env.layout.currentLink, {force: true});
    this.state.swapped = false;
    return from === undefined ? 'current removed again' : `current re-aimed at v${from}`;
  }

  /** Ends an operation that ran to one of the ENDINGS; its code and reason come from the table. */
  end(ending: Ending, message: string, next?: string): Promise<OperationResult> {
    const {code, reason} = ENDINGS[ending];
    return this.finish({code, outcome: ending, message, next, reason});
  }

  /** Ends an operation stopped by `error`: its exit code, reason and next, with `message` in the operator's words. */
  fail(error: unknown, message: string): Promise<OperationResult> {
    const {code, reason, next} = failureOf(error, `see .parako/parako.log, then run parako ${this.state.operation} again`);
    return this.finish({code, outcome: 'failed', message, next, reason});
  }

  /**
   * Phase 12's bookkeeping: one history line, then every `notify` hook with the outcome (they
   * always run, and their failures never change it), then the journal is closed.
   */
  private async finish(result: {code: number; outcome: Ending | 'failed'; message: string; next?: string; reason?: string}): Promise<OperationResult> {
    const {state} = this;
    const backup = backupOf(state.records);
    const durationMs = Date.now() - state.startedAt;
    await appendHistory(this.env.layout, {
      at: new Date().toISOString(),
      operation: state.operation,
      from: state.from ?? null,
      to: state.to,
      outcome: result.outcome,
      code: result.code,
      migrationRan: state.migrationRan,
      backup,
      durationMs,
      message: result.message,
      records: Object.keys(state.records).length > 0 ? state.records : undefined,
    });
    await this.phase('notify');
    const outcome: HookOutcome = {
      outcome: result.outcome, code: result.code, message: result.message, from: state.from ?? null, to: state.to,
      migrationRan: state.migrationRan, backup, records: state.records, durationMs,
    };
    await this.env.hooks.run('notify', this.context({outcome}));
    await this.journal?.end();
    return {
      code: result.code, outcome: result.outcome, message: result.message, from: state.from ?? null, to: state.to,
      migrationRan: state.migrationRan, backup, next: result.next, reason: result.reason, durationMs,
    };
  }
}
