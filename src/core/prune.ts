import {rename, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {fsyncDir} from './fsync.js';
import {type Layout, type RetainedRelease, listRetained, recordStagedSizes, removeStaleRecords} from './layout.js';

export interface PrunePlan {
  keep: string[];
  remove: RetainedRelease[];
}

/**
 * Which releases go when only `keep` may stay: never `current`, never the rollback target;
 * then the newest versions win.
 */
export function planPrune(retained: RetainedRelease[], keep: number, protect: Array<string | undefined>): PrunePlan {
  const kept = new Set<string>(protect.filter((v): v is string => v !== undefined && retained.some((r) => r.version === v)));
  for (const release of retained) {
    if (kept.size >= keep) break;
    kept.add(release.version);
  }
  return {keep: [...kept], remove: retained.filter((r) => !kept.has(r.version))};
}

/**
 * Removes the releases planPrune names, then brings the size records in line: a record for each
 * kept release this process staged (prune is where an update ends that keeps its release), none
 * for a release that is gone.
 */
export async function pruneReleases(layout: Layout, keep: number, protect: Array<string | undefined>): Promise<RetainedRelease[]> {
  const retained = await listRetained(layout);
  const plan = planPrune(retained, keep, protect);
  for (const release of plan.remove) {
    // Rename first so a crash mid-delete never leaves a half-deleted dir under a complete name.
    const doomed = join(layout.releasesDir, `.pruning-${release.version}-${process.pid}`);
    await rename(release.path, doomed);
    await rm(doomed, {recursive: true, force: true});
  }
  if (plan.remove.length > 0) await fsyncDir(layout.releasesDir);
  const kept = retained.filter((release) => !plan.remove.includes(release));
  await recordStagedSizes(layout, kept);
  await removeStaleRecords(layout, kept);
  return plan.remove;
}
