import {ExitCode} from '../core/errors.js';
import type {OperationResult} from '../core/operation.js';

/**
 * How every command's result reaches the operator: one JSON object on stdout with --json;
 * otherwise the message (stdout on success, `parako: …` on stderr on failure) and a `next:`
 * line saying what to do.
 */
export function printResult(result: OperationResult, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  if (result.code === ExitCode.ok) {
    if (result.message !== '') process.stdout.write(`${result.message}\n`);
  } else {
    process.stderr.write(`parako: ${result.message}\n`);
  }
  if (result.next !== undefined && result.next !== '') {
    const stream = result.code === ExitCode.ok ? process.stdout : process.stderr;
    stream.write(`next: ${result.next.split('\n').join('\n      ')}\n`);
  }
}
