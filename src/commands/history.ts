import {Flags} from '@oclif/core';
import semver from 'semver';

import {ParakoCommand} from '../cli/base.js';
import {UsageError} from '../core/errors.js';
import {type HistoryEntry, readHistory} from '../core/history.js';
import {Layout} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';

const OUTCOMES = ['installed', 'updated', 'up-to-date', 'rolled-back', 'auto-rolled-back', 'unhealthy', 'failed', 'interrupted', 'cleared'] as const;

export default class History extends ParakoCommand {
  static override summary = 'What parako did on this host: every update, rollback, recovery and cleared mark, oldest first';
  static override description = `Reads .parako/history.jsonl; needs no parako.json, takes no lock, changes nothing.
--version keeps the lines whose from or to is that version; --outcome keeps one outcome; --last keeps the newest N (default 20, 0 for all).`;
  static override examples = [
    '<%= config.bin %> history',
    '<%= config.bin %> history --version 1.4.1',
    '<%= config.bin %> history --outcome auto-rolled-back --last 0 --json',
  ];

  static override flags = {
    version: Flags.string({description: 'only lines that went from or to this version'}),
    outcome: Flags.string({description: 'only lines with this outcome', options: [...OUTCOMES]}),
    last: Flags.integer({description: 'the newest N lines that match (0: all)', default: 20, min: 0}),
  };

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(History);
    const layout = new Layout(flags.dir);
    const version = flags.version === undefined ? undefined : semver.valid(flags.version.replace(/^v/, ''));
    if (version === null) throw new UsageError(`--version "${flags.version}" is not a version (A.B.C)`);
    const all = await readHistory(layout);
    const matching = all.filter((entry) => (version === undefined || entry.from === version || entry.to === version) && (flags.outcome === undefined || entry.outcome === flags.outcome));
    const entries = flags.last === 0 ? matching : matching.slice(-flags.last);
    const count = entries.length < matching.length ? `the newest ${entries.length} of ${matching.length} line(s); --last 0 shows all` : `${matching.length} line(s)`;
    this.terminal.say(entries.length === 0 ? `no history lines${all.length > 0 ? ' match' : ` in ${layout.historyFile}`}` : [...entries.map(describe), count].join('\n'));
    return {code: 0, outcome: 'history', message: '', from: null, to: null, entries, matched: matching.length};
  }
}

/** One line a run: when, what, the outcome and its exit code, then the message indented. */
function describe(entry: HistoryEntry): string {
  const move = entry.operation === 'clear-bad' ? `clear-bad v${entry.to}` : `${entry.operation} ${entry.from === null ? '' : `v${entry.from} `}-> ${entry.to === null ? '?' : `v${entry.to}`}`;
  const took = entry.durationMs > 0 ? `, ${(entry.durationMs / 1000).toFixed(1)} s` : '';
  const lines = [`${entry.at}  ${move}: ${entry.outcome} (exit ${entry.code}${took})`];
  if (entry.backup !== null) lines.push(`    backup: ${entry.backup.path}`);
  if (entry.message !== undefined && entry.message !== '') lines.push(...entry.message.split('\n').map((line) => `    ${line}`));
  return lines.join('\n');
}
