import type {HistoryEntry} from './history.js';
import {badVersions, lastInstallOf, previousRelease, readHistory} from './history.js';
import {readJournal, type JournalEntry} from './journal.js';
import {type Layout, listRetained, readCurrentVersion, readReleaseSize} from './layout.js';
import {inspectLock, type LockOwner} from './lock.js';

export interface RetainedInfo {
  version: string;
  current: boolean;
  rollbackTarget: boolean;
  bad: boolean;
  /** As recorded when it was staged; null when no record exists (staged by an older parako). */
  bytes: number | null;
  files: number | null;
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
    // Read from the record staging wrote: walking a release of many files takes seconds.
    const size = await readReleaseSize(layout, release.version);
    retained.push({
      version: release.version,
      current: release.version === current,
      rollbackTarget: release.version === rollbackTarget,
      bad: bad.has(release.version),
      bytes: size?.bytes ?? null,
      files: size?.files ?? null,
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
