import {lstat, readdir} from 'node:fs/promises';
import {join} from 'node:path';

import type {HistoryEntry} from './history.js';
import {badVersions, lastInstallOf, previousRelease, readHistory} from './history.js';
import {readJournal, type JournalEntry} from './journal.js';
import {type Layout, listRetained, readCurrentVersion} from './layout.js';
import {inspectLock, type LockOwner} from './lock.js';

export interface RetainedInfo {
  version: string;
  current: boolean;
  rollbackTarget: boolean;
  bad: boolean;
  bytes: number;
  installedAt: string;
}

export interface StatusReport {
  dir: string;
  current: string | null;
  rollbackTarget: string | null;
  retained: RetainedInfo[];
  inFlight: {owner: LockOwner; journal?: JournalEntry} | null;
  interrupted: JournalEntry | null;
  last: HistoryEntry | null;
  lastBackup: HistoryEntry['backup'];
}

/** What `parako status` shows. Read-only: it takes no lock and changes nothing. */
export async function readStatus(layout: Layout): Promise<StatusReport> {
  const current = (await readCurrentVersion(layout)) ?? null;
  const history = await readHistory(layout);
  const bad = badVersions(history);
  const rollbackTarget = current === null ? null : previousRelease(history, current) ?? null;
  const retained: RetainedInfo[] = [];
  for (const release of await listRetained(layout)) {
    retained.push({
      version: release.version,
      current: release.version === current,
      rollbackTarget: release.version === rollbackTarget,
      bad: bad.has(release.version),
      bytes: await treeBytes(release.path),
      installedAt: lastInstallOf(history, release.version)?.at ?? release.modifiedAt.toISOString(),
    });
  }
  const lock = await inspectLock(layout);
  const journal = await readJournal(layout);
  const inFlight = lock?.alive === true ? {owner: lock.owner, journal} : null;
  const lastBackup = [...history].reverse().find((h) => h.backup !== null)?.backup ?? null;
  return {
    dir: layout.dir,
    current,
    rollbackTarget,
    retained,
    inFlight,
    interrupted: inFlight === null ? journal ?? null : null,
    last: history.at(-1) ?? null,
    lastBackup,
  };
}

async function treeBytes(root: string): Promise<number> {
  let total = 0;
  const queue = [root];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    for (const entry of await readdir(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else total += (await lstat(path)).size;
    }
  }
  return total;
}
