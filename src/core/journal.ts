import {readFile, unlink} from 'node:fs/promises';

import {writeFileAtomic} from './fsync.js';
import type {Layout} from './layout.js';
import type {Logger} from './logger.js';
import {pauseForTests} from './test-pause.js';

/** Phases of architecture.md §3.2 as the journal records them, in order. */
export const PHASES = [
  'resolve',
  'pre-download',
  'download',
  'verify',
  'post-verify',
  'stage',
  'pre-swap',
  'swap',
  'post-swap',
  'migrate',
  'restart',
  'health',
  'rollback',
  'prune',
  'notify',
] as const;
export type Phase = (typeof PHASES)[number];

/** The operation in flight, as `state.json` records it before each phase starts. */
export interface JournalEntry {
  operation: 'update' | 'rollback';
  pid: number;
  startedAt: string;
  phase: Phase;
  from?: string;
  to: string;
  stagingDir?: string;
  download?: string;
  /** Set once `current` was re-aimed at `to`. */
  swapped?: boolean;
  migrationStarted?: boolean;
}

export class Journal {
  private entry?: JournalEntry;

  constructor(
    private readonly layout: Layout,
    private readonly log?: Logger,
  ) {}

  async begin(entry: Omit<JournalEntry, 'pid' | 'startedAt' | 'phase'>): Promise<void> {
    this.entry = {...entry, pid: process.pid, startedAt: new Date().toISOString(), phase: 'resolve'};
    await this.write();
  }

  /** Records the phase about to start (and any facts learned) before it changes anything. */
  async phase(phase: Phase, facts: Partial<JournalEntry> = {}): Promise<void> {
    if (this.entry === undefined) return;
    this.entry = {...this.entry, ...facts, phase};
    await this.write();
    this.log?.info({operation: this.entry.operation, from: this.entry.from, to: this.entry.to, phase}, `phase ${phase}`);
    await pauseForTests(phase);
  }

  async note(facts: Partial<JournalEntry>): Promise<void> {
    if (this.entry === undefined) return;
    this.entry = {...this.entry, ...facts};
    await this.write();
  }

  async end(): Promise<void> {
    this.entry = undefined;
    await unlink(this.layout.journalFile).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  private async write(): Promise<void> {
    await writeFileAtomic(this.layout.journalFile, JSON.stringify(this.entry, null, 2) + '\n', 0o600);
  }
}

/** The journal an interrupted run left behind, if any. */
export async function readJournal(layout: Layout): Promise<JournalEntry | undefined> {
  let text: string;
  try {
    text = await readFile(layout.journalFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as JournalEntry;
  } catch {
    // writeFileAtomic renames complete files only, so a torn journal cannot come from us;
    // report it as unknown and let recovery clean up conservatively.
    return {operation: 'update', pid: 0, startedAt: 'unknown', phase: 'resolve', to: 'unknown'};
  }
}
