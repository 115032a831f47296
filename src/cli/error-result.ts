import {exitCodeOf, messageOf, ParakoError} from '../core/errors.js';
import type {OperationResult} from '../core/operation.js';
import {writeText} from './terminal.js';

/** What a command that threw reports: a ParakoError's code, reason and next step; anything else as unexpected, its stack on stderr. */
export function errorResult(error: unknown): OperationResult {
  const code = exitCodeOf(error);
  if (!(error instanceof ParakoError)) {
    // Unexpected: keep the stack for the log, say what is known to the operator.
    writeText(process.stderr, `${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
  }
  return {
    code,
    outcome: 'failed',
    message: messageOf(error),
    from: null,
    to: null,
    reason: error instanceof ParakoError ? error.reason : 'unexpected',
    next: error instanceof ParakoError ? error.next : 'this is a bug or an unexpected condition: see .parako/parako.log; the install dir is unchanged or is recovered by the next run',
  };
}
