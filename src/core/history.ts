import {constants} from 'node:fs';
import {open, readFile} from 'node:fs/promises';

import type {BackupRecord} from '../sdk/contract.js';
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
  | 'interrupted';

export type {BackupRecord} from '../sdk/contract.js';

/** One line of history.jsonl (architecture.md §3 step 12). */
export interface HistoryEntry {
  at: string;
  operation: 'update' | 'rollback';
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

/** Versions that failed their health check and are skipped by `update` to latest. */
export function badVersions(history: HistoryEntry[]): Set<string> {
  const bad = new Set<string>();
  for (const entry of history) {
    if (entry.to === null) continue;
    if (entry.operation === 'update' && entry.outcome === 'auto-rolled-back') bad.add(entry.to);
    // An unhealthy first install (no `from`) is usually a service not set up yet, not a bad
    // release; marking it would make the next update skip the only release there is.
    if (entry.operation === 'update' && entry.outcome === 'unhealthy' && entry.from !== null) bad.add(entry.to);
    // Killed during its automatic rollback: the health check had already failed.
    if (entry.operation === 'update' && entry.outcome === 'interrupted' && entry.phase === 'rollback') bad.add(entry.to);
    // A later healthy install of the same version, asked for explicitly, clears the mark.
    if (entry.operation === 'update' && (entry.outcome === 'updated' || entry.outcome === 'installed')) bad.delete(entry.to);
  }
  return bad;
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

/**
 * Where `rollback` goes without --to: the release that was current before `current` was
 * installed. After a rollback this walks further back rather than undoing the rollback
 * (after `update --allow-downgrade` the release it came from is newer, and that is the one).
 */
export function previousRelease(history: HistoryEntry[], current: string): string | undefined {
  return lastInstallOf(history, current)?.from ?? undefined;
}
