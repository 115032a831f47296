import {constants, openSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname} from 'node:path';
import type {default as Pino, Logger, StreamEntry} from 'pino';

import {ensurePrivateDir} from './safe-dir.js';
import {escapeJson} from './terminal-text.js';

export type {Logger} from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * JSON lines on stderr at the operator's level and, outside a dry run, always at `info` into
 * `.parako/parako.log` (architecture.md §1). Synchronous destinations so nothing is lost on exit.
 */
export function createLogger(options: {level: LogLevel; file?: string}): Logger {
  const pino = loadPino();
  const streams: StreamEntry[] = [];
  if (options.level !== 'silent') {
    // pino escapes only what JSON must; a C1 control or a bidi override in a logged value (a
    // plugin's program output, say) would still reach root's terminal raw.
    const stderr = pino.destination({dest: 2, sync: true});
    streams.push({level: options.level, stream: {write: (line: string) => stderr.write(escapeJson(line))}});
  }
  if (options.file !== undefined) {
    ensurePrivateDir(dirname(options.file));
    const fd = openSync(options.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    streams.push({level: 'info', stream: pino.destination({dest: fd, sync: true})});
  }
  const levels = streams.map((s) => pino.levels.values[s.level ?? 'info'] ?? 30);
  const lowest = levels.length === 0 ? 'silent' : pino.levels.labels[Math.min(...levels)] ?? 'info';
  return pino({level: lowest, base: {pid: process.pid}, timestamp: pino.stdTimeFunctions.isoTime}, pino.multistream(streams));
}

/**
 * pino and its dependencies are loaded by the first logger, not by importing this module:
 * every command imports LOG_LEVELS for its --log-level flag, and `status` never logs. pino is
 * CommonJS, so require() loads it synchronously and createLogger stays synchronous.
 */
function loadPino(): typeof Pino {
  return createRequire(import.meta.url)('pino') as typeof Pino;
}
