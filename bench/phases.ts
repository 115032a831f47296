/**
 * Where an update's time goes, from the "phase <name>" log lines the journal writes when each
 * phase of DESIGN §6 starts (on stderr with --log-level info, and always in .parako/parako.log).
 * A phase lasts until the next one starts; the time before the first is start-up, the lock and
 * resolving the version; the last (notify) lasts until the process has exited.
 */
import {markdownTable, sample, seconds} from './table.js';

export interface PhaseSpan {
  phase: string;
  ms: number;
}

/** What each span covers, in the operator's words. */
const COVERS: Record<string, string> = {
  'start': 'start-up (Node, oclif, plugins, config), lock, recovery check, fetch index.json, pick the version',
  'pre-download': 'pre-download hooks',
  'download': 'fetch the bundle, stream the artifact to disk while feeding the signature check its digests',
  'verify': 'Sigstore checks, the signature against the digests the download fed; then read release.json out of the tarball',
  'post-verify': 'post-verify hooks, breaking-change check',
  'stage': 'extract into releases/.staging-*, check links, one syncfs (else an fsync of every file and dir), rename; delete the download',
  'pre-swap': 'pre-swap hooks (a backup plugin backs up here, when configured)',
  'swap': 'temp link renamed over current',
  'post-swap': 'post-swap hooks; restart skipped (--no-restart)',
  'prune': 'prune old releases, remove downloads/, history entry',
  'notify': 'notify hooks, close the journal, print, exit',
};

/** Spans of one run, from its log text (JSON lines) and when the process started and ended. */
export function phaseSpans(logText: string, startedAt: number, endedAt: number): PhaseSpan[] {
  const marks: Array<{phase: string; at: number}> = [{phase: 'start', at: startedAt}];
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: {msg?: unknown; time?: unknown};
    try {
      entry = JSON.parse(line) as {msg?: unknown; time?: unknown};
    } catch {
      continue; // not a log line (the CLI's own messages share stderr)
    }
    const phase = typeof entry.msg === 'string' ? /^phase (\S+)$/.exec(entry.msg)?.[1] : undefined;
    const at = typeof entry.time === 'string' ? Date.parse(entry.time) : typeof entry.time === 'number' ? entry.time : Number.NaN;
    if (phase !== undefined && Number.isFinite(at)) marks.push({phase, at});
  }
  if (marks.length === 1) throw new Error('no "phase <name>" lines in the log: was the update run at log level info or above?');
  return marks.map((mark, i) => ({phase: mark.phase, ms: (marks[i + 1]?.at ?? endedAt) - mark.at}));
}

/**
 * A table of the median time per phase over several runs (and its share of the median total),
 * with an optional extra column from one run read off stderr; `largest` names the top three.
 */
export function phaseTable(runs: PhaseSpan[][], single?: {label: string; spans: PhaseSpan[]}): {table: string; largest: string} {
  const order = runs[0]?.map((s) => s.phase) ?? [];
  const medians = order.map((phase) => ({phase, ms: sample(runs.map((spans) => spans.find((s) => s.phase === phase)?.ms ?? 0)).median}));
  const total = sample(runs.map((spans) => spans.reduce((sum, s) => sum + s.ms, 0))).median;
  const header = ['Phase', 'What it covers', `Median of ${runs.length}`, 'Share'];
  if (single !== undefined) header.push(single.label);
  const rows = medians.map(({phase, ms}) => {
    const row = [phase, COVERS[phase] ?? '', seconds(ms), `${((100 * ms) / total).toFixed(0)} %`];
    if (single !== undefined) row.push(seconds(single.spans.find((s) => s.phase === phase)?.ms ?? 0));
    return row;
  });
  const totalRow = ['total', 'process start to exit', seconds(total), '100 %'];
  if (single !== undefined) totalRow.push(seconds(single.spans.reduce((sum, s) => sum + s.ms, 0)));
  rows.push(totalRow);
  const largest = [...medians]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 3)
    .map(({phase, ms}) => `${phase} ${((100 * ms) / total).toFixed(0)} %`)
    .join(', ');
  return {table: markdownTable(header, rows), largest};
}
