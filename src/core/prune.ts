import {rename, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {fsyncDir} from './fsync.js';
import {badVersions, type HistoryEntry, lastKnownGood, previousRelease} from './history.js';
import {type Layout, type RetainedRelease, listRetained, removeStaleRecords} from './layout.js';

export interface PrunePlan {
  keep: string[];
  remove: RetainedRelease[];
}

/** What prune keeps whatever the count, and what it removes first (docs/commands.md, parako prune). */
export interface PruneRules {
  keep: number;
  /** Never removed: current, the rollback target, the last release that ran healthy. */
  protect: Set<string>;
  /** Failed their health check here: removed before any release that did not. */
  bad: Set<string>;
}

/**
 * The rules from the history: `current` (what the operation leaves current), the release a
 * rollback would go back to, and the newest release that last ran healthy and is not marked bad
 * are protected; `extra` adds more (the release an update came from).
 */
export function pruneRules(history: HistoryEntry[], keep: number, current: string | undefined, extra: Array<string | undefined> = []): PruneRules {
  const candidates = [current, current === undefined ? undefined : previousRelease(history, current), lastKnownGood(history), ...extra];
  return {keep, protect: new Set(candidates.filter((version): version is string => version !== undefined)), bad: badVersions(history)};
}

/**
 * Which releases go. The protected ones stay; then releases fill the remaining places, newest
 * first, those that never failed their health check before those that did. `retained` is
 * newest first.
 */
export function planPrune(retained: RetainedRelease[], rules: PruneRules): PrunePlan {
  const kept = new Set<string>([...rules.protect].filter((version) => retained.some((release) => release.version === version)));
  const good = retained.filter((release) => !rules.bad.has(release.version));
  const bad = retained.filter((release) => rules.bad.has(release.version));
  for (const release of [...good, ...bad]) {
    if (kept.size >= rules.keep) break;
    kept.add(release.version);
  }
  return {keep: [...kept], remove: retained.filter((release) => !kept.has(release.version))};
}

/** Removes the releases planPrune names, and the size records of releases that are gone. */
export async function pruneReleases(layout: Layout, rules: PruneRules): Promise<RetainedRelease[]> {
  const retained = await listRetained(layout);
  const plan = planPrune(retained, rules);
  for (const release of plan.remove) {
    // Rename first so a crash mid-delete never leaves a half-deleted dir under a complete name.
    const doomed = join(layout.releasesDir, `.pruning-${release.version}-${process.pid}`);
    await rename(release.path, doomed);
    await rm(doomed, {recursive: true, force: true});
  }
  if (plan.remove.length > 0) await fsyncDir(layout.releasesDir);
  await removeStaleRecords(layout, retained.filter((release) => !plan.remove.includes(release)));
  return plan.remove;
}

/** The line an operation prints after pruning, or undefined when nothing went. */
export function describePruned(pruned: RetainedRelease[], keep: number): string | undefined {
  return pruned.length === 0 ? undefined : `pruned ${pruned.map((release) => `v${release.version}`).join(', ')} (keepReleases ${keep})`;
}
