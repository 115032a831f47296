/**
 * `parako status` without oclif (docs/performance.md, "Start-up"). Loading oclif and its plugin
 * list costs more than everything status itself does, and status is what an operator (or a
 * monitoring check, every minute) runs most. bin/run.js takes this path only where oclif would
 * add nothing: no plugin store and no unchecked plugins (so no plugin's oclif hook could run),
 * no DEBUG; and only for the arguments parsed here, the same flags with the same defaults as
 * the oclif command. Anything else (--help, an unknown or repeated flag, a bad value) goes to
 * oclif, whose messages for it stay the only ones.
 */
import {DEFAULT_DIR} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {LOG_LEVELS} from '../core/logger.js';
import {errorResult} from './error-result.js';
import {printResult} from './print-result.js';
import {statusResult} from './status-view.js';
import {Terminal} from './terminal.js';

export interface StatusArgs {
  dir: string;
  json: boolean;
}

/** The flags of `parako status <args>` when they are a plain case, else undefined (oclif parses them). */
export function parseStatusArgs(args: readonly string[], env: NodeJS.ProcessEnv): StatusArgs | undefined {
  const seen = new Set<string>();
  let dir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (seen.has(name)) return undefined; // oclif says it may be given once
    seen.add(name);
    if (name === '--json' && inline === undefined) continue;
    if (name !== '--dir' && name !== '--log-level') return undefined;
    const value = inline ?? args[++i];
    if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    if (name === '--dir') dir = value;
    else if (!(LOG_LEVELS as readonly string[]).includes(value)) return undefined; // status logs nothing, but oclif refuses a bad level
  }
  if (dir === undefined && env.PARAKO_DIR === '') return undefined;
  return {dir: dir ?? env.PARAKO_DIR ?? DEFAULT_DIR, json: seen.has('--json')};
}

/** Runs status as the oclif command would, printing its result; the exit code. */
export async function runStatus(parsed: StatusArgs): Promise<number> {
  const terminal = new Terminal(parsed.json);
  let result: OperationResult;
  try {
    result = await statusResult(parsed.dir, terminal);
  } catch (error) {
    result = errorResult(error);
  }
  printResult(result, parsed.json);
  return result.code;
}
