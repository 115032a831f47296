import type {Outcome as HookOutcome} from '../hooks/context.js';
import {backupOf, hookContext, releaseRef} from './context.js';
import {type Outcome, appendHistory} from './history.js';
import type {Journal} from './journal.js';
import type {OperationEnv, OperationResult, OperationState} from './operation.js';

/**
 * Phase 12's bookkeeping: one history line, then every `notify` hook with the outcome (they
 * always run, and their failures never change it), then the journal is closed.
 */
export async function finishOperation(
  env: OperationEnv,
  state: OperationState,
  journal: Journal,
  result: {code: number; outcome: Outcome; message: string; next?: string; reason?: string},
): Promise<OperationResult> {
  const backup = backupOf(state.records);
  const durationMs = Date.now() - state.startedAt;
  await appendHistory(env.layout, {
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
  await journal.phase('notify');
  const outcome: HookOutcome = {
    outcome: result.outcome,
    code: result.code,
    message: result.message,
    from: state.from ?? null,
    to: state.to,
    migrationRan: state.migrationRan,
    backup,
    records: state.records,
    durationMs,
  };
  const known = state.releases ?? {from: state.from === undefined ? undefined : releaseRef(env, state.from), to: releaseRef(env, state.to)};
  await env.hooks.run('notify', hookContext(env, state, known, new AbortController().signal, {outcome}));
  await journal.end();
  return {
    code: result.code,
    outcome: result.outcome,
    message: result.message,
    from: state.from ?? null,
    to: state.to,
    migrationRan: state.migrationRan,
    backup,
    next: result.next,
    reason: result.reason,
    durationMs,
  };
}
