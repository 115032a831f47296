import {ExitCode} from '../core/errors.js';
import type {OperationResult} from '../core/operation.js';
import {escapeJson} from '../core/terminal-text.js';
import {writeText} from './terminal.js';

/**
 * The version of the --json contract (docs/commands.md, "The --json contract"), first in every
 * result object. It goes up when a field is removed or changes its type or meaning; new fields
 * do not change it.
 */
export const JSON_VERSION = 1;

/**
 * How every command's result reaches the operator: one JSON object on stdout with --json;
 * otherwise the message (stdout on success, `parako: …` on stderr on failure) and a `next:`
 * line saying what to do. Both go out escaped: a message may quote the feed, a release or a plugin.
 */
export function printResult(result: OperationResult, json: boolean): void {
  if (json) {
    process.stdout.write(escapeJson(JSON.stringify({jsonVersion: JSON_VERSION, ...result})) + '\n');
    return;
  }
  if (result.code === ExitCode.ok) {
    if (result.message !== '') writeText(process.stdout, `${result.message}\n`);
  } else {
    writeText(process.stderr, `parako: ${result.message}\n`);
  }
  if (result.next !== undefined && result.next !== '') {
    const stream = result.code === ExitCode.ok ? process.stdout : process.stderr;
    writeText(stream, `next: ${result.next.split('\n').join('\n      ')}\n`);
  }
}
