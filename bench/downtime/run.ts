/**
 * `npm run bench -- downtime [--quick] [--only pm2,compose,systemd] [--json <file>]`: what an
 * update and a rollback cost the app's clients, per supervisor and mode (issue 17). Each
 * scenario installs a real signed release, starts the app under the supervisor, then runs
 * `parako update` + `parako rollback` cycles (5; 1 with --quick) while load.ts sends 100
 * requests/s to it from a separate process. Prints a Markdown table on stdout (progress on
 * stderr) and writes every row with the measurement behind it as JSON. A measurement, not a
 * test: nothing here passes or fails on a figure (a parako run that fails does fail it).
 */
import {writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {systemdTestsMissing} from '../../test/fixtures/systemd.js';
import {describeMachine} from '../machine.js';
import {markdownTable} from '../table.js';
import {composeMissing, runComposeDowntime} from './compose.js';
import {type DowntimeRow, type Measurement, measure} from './measure.js';
import {pm2Missing, runPm2Downtime} from './pm2.js';
import {type DowntimeOptions, type ScenarioResult, running} from './scenario.js';
import {runSystemdDowntime} from './systemd.js';

const SUITES = ['pm2', 'compose', 'systemd'] as const;
type Suite = (typeof SUITES)[number];

interface Options {
  quick: boolean;
  only: Suite[];
  json: string;
  cycles?: number;
}

export interface DowntimeReport {
  at: string;
  quick: boolean;
  cycles: number;
  ratePerSecond: number;
  command: string;
  rows: DowntimeRow[];
  /** The measurement behind each row of pm2 and compose (systemd's module returns rows only). */
  details: Array<{row: DowntimeRow; measurement?: Measurement; setup?: Record<string, unknown>; loadAverage?: ScenarioResult['loadAverage']}>;
  machine: {cpu: string; cores: number; node: string; os: string};
  skipped: string[];
}

export async function downtimeMain(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const cycles = options.cycles ?? (options.quick ? 1 : 5);
  const progress = (message: string): void => void process.stderr.write(`bench downtime: ${message}\n`);
  const ctx: DowntimeOptions = {quick: options.quick, cycles, measure, ratePerSecond: 100, progress};
  const report: DowntimeReport = {
    at: new Date().toISOString(),
    quick: options.quick,
    cycles,
    ratePerSecond: ctx.ratePerSecond,
    command: `npm run bench -- downtime ${argv.join(' ')}`.trim(),
    rows: [],
    details: [],
    machine: await describeMachine(tmpdir()),
    skipped: [],
  };
  // Ctrl-C: stop the pm2 daemon, remove the compose project and the temp dirs of the scenario in progress.
  process.once('SIGINT', () => {
    progress('interrupted: cleaning up');
    void Promise.allSettled([...running].map((cleanup) => cleanup())).then(() => process.exit(130));
  });
  const add = (results: ScenarioResult[]): void => {
    for (const result of results) {
      report.rows.push(result.row);
      report.details.push(result);
    }
  };

  for (const suite of options.only) {
    if (suite === 'pm2') {
      const missing = pm2Missing();
      if (missing !== false) report.skipped.push(`pm2: ${missing}`);
      else add(await runPm2Downtime(ctx));
    } else if (suite === 'compose') {
      const missing = composeMissing();
      if (missing !== false) report.skipped.push(`docker compose: ${missing}`);
      else add(await runComposeDowntime(ctx));
    } else {
      const missing = systemdTestsMissing();
      if (missing !== false) {
        report.skipped.push(`systemd: ${missing}`);
        continue;
      }
      for (const row of await runSystemdDowntime({quick: options.quick, cycles, measure})) {
        report.rows.push(row);
        report.details.push({row});
      }
    }
  }

  await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${markdown(report)}\n`);
  progress(`rows and measurements written to ${options.json}`);
  return 0;
}

function markdown(report: DowntimeReport): string {
  const ms = (value: number): string => `${Math.round(value)} ms`;
  const table = markdownTable(
    ['Supervisor', 'Mode', 'Cycles', 'Requests sent', 'Failed', 'Failed by kind', 'Longest outage', 'Longest restart window', 'p99 latency'],
    report.rows.map((r) => [
      r.supervisor,
      r.mode,
      String(r.cycles),
      String(r.sent),
      String(r.failed),
      Object.entries(r.failures)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ') || '–',
      r.outageMs === undefined ? 'n/a' : ms(r.outageMs),
      ms(r.windowMs),
      ms(r.p99Ms),
    ]),
  );
  const details = report.details
    .filter((d) => d.measurement !== undefined)
    .map(({row, measurement: m, loadAverage}) => {
      const outages = m!.outages.map((w) => `${Math.round(w.lengthMs)} ms (${w.failed} failed)`).join(', ') || 'none';
      const windows = m!.windows.map((w) => `${Math.round(w.lengthMs)} ms (${w.failed} failed of ${w.requests} disturbed)`).join(', ') || 'none';
      const connections = Object.entries(m!.byConnection)
        .map(([kind, c]) => `${kind} ${c.failed}/${c.sent} failed`)
        .join(', ');
      return `- ${row.supervisor}, ${row.mode}: outages ${outages}; restart windows ${windows}; ${connections}; answered by ${JSON.stringify(m!.versions)}; baseline p99 ${ms(m!.baseline.p99Ms)}, slow above ${ms(m!.slowMs)}; load average ${loadAverage?.before.toFixed(1)} → ${loadAverage?.after.toFixed(1)}, listen-queue overflows (machine-wide) ${loadAverage?.listenOverflows ?? 'unknown'}`;
    });
  return [
    `# parako downtime benchmark`,
    `${report.at}, ${report.quick ? '`--quick`' : 'full run'}: ${report.cycles} × (\`parako update\` + \`parako rollback\`) per row under ${report.ratePerSecond} requests/s (half kept-alive, half new connections), \`${report.command}\``,
    `Machine: ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}, ${report.machine.os}.`,
    table,
    'Sent and failed count the requests sent while parako ran (and 1 s after). An outage runs from the first to the last of a run of failed requests less than 1 s apart; a restart window the same for failed or slow ones (slow: above 5× the baseline p99, at least 100 ms); the longest of each is shown. p99 is over the answered requests while parako ran.',
    ...(details.length > 0 ? [`## Details\n\n${details.join('\n')}`] : []),
    ...(report.skipped.length > 0 ? [`## Not measured here\n\n${report.skipped.map((s) => `- ${s}`).join('\n')}`] : []),
  ].join('\n\n');
}

function parseOptions(argv: string[]): Options {
  const opts: Options = {quick: false, only: [...SUITES], json: join(tmpdir(), `parako-downtime-${Date.now()}.json`)};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (name: string): string => (arg === name ? argv[++i] : arg.slice(name.length + 1)) ?? '';
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const names = value('--only').split(',');
      if (names.some((n) => !(SUITES as readonly string[]).includes(n))) usage(`--only takes ${SUITES.join(', ')}, got "${names.join(',')}"`);
      opts.only = names as Suite[];
    } else if (arg === '--json' || arg.startsWith('--json=')) {
      opts.json = value('--json');
      if (opts.json === '') usage('--json takes a file name');
    } else if (arg === '--cycles' || arg.startsWith('--cycles=')) {
      opts.cycles = Number(value('--cycles'));
      if (!Number.isInteger(opts.cycles) || opts.cycles < 1 || opts.cycles > 50) usage('--cycles takes a whole number from 1 to 50');
    } else usage(`unknown argument ${arg}`);
  }
  return opts;
}

function usage(problem: string): never {
  process.stderr.write(`bench downtime: ${problem}\nusage: tsx bench/run.ts downtime [--quick] [--only pm2,compose,systemd] [--cycles N] [--json <file>]\n`);
  process.exit(2);
}
