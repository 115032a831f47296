/** Medians, and the Markdown the benchmark prints. */

export interface Sample {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function sample(values: number[]): Sample {
  if (values.length === 0) throw new Error('no values to summarise');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length};
}

/** One line of the results table. */
export interface ResultRow {
  measurement: string;
  /** What the figure is, in a few words: "peak RSS", "wall time"… */
  metric: string;
  n: number;
  median: string;
  range: string;
  /** The comparison that gives the figure its meaning: a baseline, a ratio. */
  compared: string;
}

export function seconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export function mib(value: number): string {
  return `${value.toFixed(value >= 100 ? 0 : 1)} MiB`;
}

export function ratio(value: number): string {
  return `${value.toFixed(2)}×`;
}

export function bytes(value: number): string {
  if (value >= 1024 ** 3) return `${(value / 1024 ** 3).toFixed(2)} GiB`;
  if (value >= 1024 ** 2) return `${(value / 1024 ** 2).toFixed(1)} MiB`;
  return `${(value / 1024).toFixed(1)} KiB`;
}

/** A time sample as "median" and "min–max" cells. */
export function timeCells(s: Sample): Pick<ResultRow, 'n' | 'median' | 'range'> {
  return {n: s.n, median: seconds(s.median), range: `${seconds(s.min)} – ${seconds(s.max)}`};
}

export function rssCells(s: Sample): Pick<ResultRow, 'n' | 'median' | 'range'> {
  return {n: s.n, median: mib(s.median), range: `${mib(s.min)} – ${mib(s.max)}`};
}

export function markdownTable(header: string[], rows: string[][]): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const lines = [`| ${header.map(escape).join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.map(escape).join(' | ')} |`);
  return lines.join('\n');
}

export function resultsTable(rows: ResultRow[]): string {
  return markdownTable(
    ['Measurement', 'Metric', 'N', 'Median', 'Min – max', 'Compared with'],
    rows.map((r) => [r.measurement, r.metric, String(r.n), r.median, r.range, r.compared]),
  );
}
