import {constants} from 'node:fs';
import {open, readFile} from 'node:fs/promises';

import semver from 'semver';

import type {BackupRecord} from '../sdk/contract.js';
import {RefusedError, UsageError} from './errors.js';
import type {Layout} from './layout.js';
import {ensurePrivateDir} from './safe-dir.js';

export type Outcome =
  | 'updated'
  | 'installed'
  | 'rolled-back'
  | 'up-to-date'
  | 'failed'
  | 'auto-rolled-back'
  | 'unhealthy'
  | 'interrupted'
  /** `releases --clear-bad`: an operator lifted a version's bad mark. */
  | 'cleared';

export type {BackupRecord} from '../sdk/contract.js';

/** One line of history.jsonl (architecture.md §3 step 12). */
export interface HistoryEntry {
  at: string;
  operation: 'update' | 'rollback' | 'clear-bad';
  from: string | null;
  to: string | null;
  outcome: Outcome;
  code: number;
  migrationRan: boolean;
  backup: BackupRecord | null;
  durationMs: number;
  message?: string;
  records?: Record<string, unknown>;
  /** On an `interrupted` line: the phase the dead run had reached. */
  phase?: string;
  /** On an `interrupted` line: the release `current` was left on by the recovery. */
  currentAfter?: string | null;
}

export async function appendHistory(layout: Layout, entry: HistoryEntry): Promise<void> {
  ensurePrivateDir(layout.stateDir);
  const handle = await open(layout.historyFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(JSON.stringify(entry) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readHistory(layout: Layout): Promise<HistoryEntry[]> {
  let text: string;
  try {
    text = await readFile(layout.historyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // A torn last line is what a crash mid-append leaves; the lines before it still count.
    }
  }
  return entries;
}

/** Why a version is marked bad: the run that found it unhealthy. */
export interface BadMark {
  version: string;
  /** When that run ended. */
  at: string;
  /** In the operator's words: `update v1.1.0 -> v1.2.0 rolled back automatically`. */
  why: string;
}

/**
 * Versions that failed their health check on this host, skipped by `update` to latest and by
 * ranges until named with --version. A mark is lifted when the version later runs healthy
 * (installed or rolled back to, and not found unhealthy) or an operator clears it
 * (`releases --clear-bad`).
 */
export function badMarks(history: HistoryEntry[]): Map<string, BadMark> {
  const bad = new Map<string, BadMark>();
  for (const entry of history) {
    if (entry.to === null) continue;
    const mark = (why: string) => bad.set(entry.to!, {version: entry.to!, at: entry.at, why: `update ${entry.from === null ? '' : `v${entry.from} `}-> v${entry.to} ${why}`});
    if (entry.operation === 'update' && entry.outcome === 'auto-rolled-back') mark('rolled back automatically');
    // An unhealthy first install (no `from`) is usually a service not set up yet, not a bad
    // release; marking it would make the next update skip the only release there is.
    if (entry.operation === 'update' && entry.outcome === 'unhealthy' && entry.from !== null) mark('stayed unhealthy');
    // Killed during its automatic rollback: the health check had already failed.
    if (entry.operation === 'update' && entry.outcome === 'interrupted' && entry.phase === 'rollback') mark('was interrupted while rolling back');
    if (ranHealthy(entry) || (entry.operation === 'clear-bad' && entry.outcome === 'cleared')) bad.delete(entry.to);
  }
  return bad;
}

/**
 * `releases --clear-bad`: lifts the mark with a history line of its own, so the history says
 * who made update take the version again, and when. Refuses (exit 5) a version not marked.
 */
export async function clearBadMark(layout: Layout, asked: string): Promise<string> {
  const version = semver.valid(asked.replace(/^v/, ''));
  if (version === null) throw new UsageError(`--clear-bad "${asked}" is not a version (A.B.C)`);
  const mark = badMarks(await readHistory(layout)).get(version);
  if (mark === undefined) {
    throw new RefusedError(`v${version} is not marked bad on this host; nothing to clear`, {next: 'parako releases shows which versions failed their health check. Nothing was changed.'});
  }
  const message = `cleared the bad mark of v${version} (${mark.why} on ${mark.at}); update to latest takes it again`;
  await appendHistory(layout, {
    at: new Date().toISOString(), operation: 'clear-bad', from: null, to: version, outcome: 'cleared', code: 0, migrationRan: false, backup: null, durationMs: 0, message,
  });
  return message;
}

/** A run that left `to` current and healthy: an update that installed it, or a rollback to it. */
function ranHealthy(entry: HistoryEntry): boolean {
  return (entry.operation === 'update' && (entry.outcome === 'updated' || entry.outcome === 'installed')) || (entry.operation === 'rollback' && entry.outcome === 'rolled-back');
}

/** The versions of badMarks. */
export function badVersions(history: HistoryEntry[]): Set<string> {
  return new Set(badMarks(history).keys());
}

/**
 * The update that installed `version` most recently and left it current: one that succeeded,
 * one that stayed unhealthy, or one that was killed after the swap and whose recovery left
 * `current` on it (so `rollback` knows where to go back to and whether a migration ran).
 */
export function lastInstallOf(history: HistoryEntry[], version: string): HistoryEntry | undefined {
  for (let index = history.length - 1; index >= 0; index--) {
    const entry = history[index]!;
    if (entry.operation !== 'update' || entry.to !== version) continue;
    if (entry.outcome === 'updated' || entry.outcome === 'installed' || entry.outcome === 'unhealthy') return entry;
    if (entry.outcome === 'interrupted' && entry.currentAfter === version) return entry;
  }
  return undefined;
}

/** The newest version that last ran healthy here and is not marked bad: prune never removes it. */
export function lastKnownGood(history: HistoryEntry[]): string | undefined {
  const bad = badVersions(history);
  for (let index = history.length - 1; index >= 0; index--) {
    const entry = history[index]!;
    if (ranHealthy(entry) && entry.to !== null && !bad.has(entry.to)) return entry.to;
  }
  return undefined;
}

/**
 * Where `rollback` goes without --to: the release that was current before `current` was
 * installed. After a rollback this walks further back rather than undoing the rollback
 * (after `update --allow-downgrade` the release it came from is newer, and that is the one).
 */
export function previousRelease(history: HistoryEntry[], current: string): string | undefined {
  return lastInstallOf(history, current)?.from ?? undefined;
}
