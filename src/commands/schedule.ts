import {join, resolve} from 'node:path';

import {Args, Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import {UsageError} from '../core/errors.js';
import {Layout, refuseSourceInstall} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {
  disableSchedule, enableSchedule, journalctlCommand, type ScheduleEnv, type ScheduleReport, scheduleStatus, scheduleStatusCommand, SYSTEMD_UNIT_DIR,
} from '../core/schedule.js';
import {DEFAULT_ON_CALENDAR} from '../core/schedule-units.js';

export default class Schedule extends ParakoCommand {
  static override summary = 'Unattended updates of this install dir on a systemd timer: enable, disable, status';
  static override description = `enable writes parako-update@<dir>.service and .timer into /etc/systemd/system and starts the timer; in each window it runs parako update --unattended --json --dir <dir>, which follows updates in parako.json (channel, hold, unattended). Logs go to the journal (journalctl -u parako-update@…).
disable stops the timer and removes both units; a run in progress finishes.
status shows the next and the last run, how the last run ended, and the last history line.
Needs systemd as PID 1 (exit 5 otherwise). docs/operations.md#unattended-updates`;
  static override examples = [
    '<%= config.bin %> schedule enable --on-calendar "Sun *-*-* 03:00" --randomized-delay 30m',
    '<%= config.bin %> schedule status',
    '<%= config.bin %> schedule disable --dir /opt/parako-id',
  ];

  static override args = {
    action: Args.string({description: 'what to do', options: ['enable', 'disable', 'status'], required: true}),
  };

  static override flags = {
    'on-calendar': Flags.string({description: `enable: the maintenance window, a systemd calendar expression (man systemd.time) [default: ${DEFAULT_ON_CALENDAR}]`}),
    'randomized-delay': Flags.string({description: 'enable: start up to this long after the window opens (seconds, or 30m, 1h) [default: 0]'}),
  };

  protected async execute(): Promise<OperationResult> {
    const {args, flags} = await this.parseFlags(Schedule);
    const dir = resolve(flags.dir);
    const env: ScheduleEnv = {unitDir: process.env.PARAKO_SYSTEMD_DIR || SYSTEMD_UNIT_DIR, templateDir: join(this.config.root, 'templates', 'systemd')};
    if (args.action !== 'enable' && (flags['on-calendar'] !== undefined || flags['randomized-delay'] !== undefined)) {
      throw new UsageError(`--on-calendar and --randomized-delay are options of parako schedule enable, not ${args.action}`, {next: 'parako schedule enable --on-calendar "…" changes the window of an existing schedule'});
    }
    if (args.action === 'enable') return this.enable(env, dir, flags['on-calendar'] ?? DEFAULT_ON_CALENDAR, flags['randomized-delay'] ?? '0');
    if (args.action === 'disable') return this.disable(env, dir);
    const report = await scheduleStatus(env, new Layout(dir));
    this.terminal.say(render(report));
    return {code: 0, outcome: 'status', message: '', from: null, to: null, schedule: report};
  }

  private async enable(env: ScheduleEnv, dir: string, onCalendar: string, randomizedDelay: string): Promise<OperationResult> {
    // What would make every timer run fail is refused now, while someone is there to fix it.
    const layout = new Layout(dir);
    await refuseSourceInstall(layout);
    const {loadConfig} = await import('../core/config.js');
    await loadConfig(layout.dir);
    const parako = [process.execPath, join(this.config.root, 'bin', 'run.js')];
    const {names, nextRun} = await enableSchedule(env, {dir, parako, onCalendar, randomizedDelay});
    return {
      code: 0,
      outcome: 'scheduled',
      message: `scheduled: ${names.timer} runs parako update --unattended in the window "${onCalendar}"${randomizedDelay === '0' ? '' : ` (+ up to ${randomizedDelay})`}; next run ${nextRun ?? 'unknown'}`,
      next: `${scheduleStatusCommand(dir)} shows the last run; ${journalctlCommand(names.service)} its output`,
      from: null,
      to: null,
      units: {service: names.service, timer: names.timer},
      nextRun,
    };
  }

  private async disable(env: ScheduleEnv, dir: string): Promise<OperationResult> {
    const {names, removed} = await disableSchedule(env, dir);
    return {
      code: 0,
      outcome: 'unscheduled',
      message: removed ? `unscheduled: ${names.timer} is stopped, ${names.timer} and ${names.service} are removed` : `no schedule for ${dir} (no ${names.timer} in ${env.unitDir}); nothing to do`,
      from: null,
      to: null,
      units: {service: names.service, timer: names.timer},
      removed,
    };
  }
}

function render(report: ScheduleReport): string {
  const lines = [`install dir: ${report.dir}`];
  if (report.timer === null) {
    lines.push(`schedule:    none (no ${report.units.timer}); parako schedule enable sets one up`);
  } else {
    lines.push(
      `timer:       ${report.units.timer} (${report.enabled ? 'enabled' : 'NOT enabled'}, ${report.timer.active})`,
      `window:      ${report.onCalendar ?? '?'}${report.randomizedDelay === null || report.randomizedDelay === '0' ? '' : ` + up to ${report.randomizedDelay}`}`,
      `next run:    ${report.timer.nextRun ?? 'none'}`,
      `last run:    ${describeRun(report)}`,
    );
    const outcome = report.lastRun?.outcome;
    if (outcome) lines.push(`             ${String(outcome.outcome)} (exit ${String(outcome.code)}): ${String(outcome.message)}`);
  }
  const h = report.lastHistory;
  if (h !== null) lines.push(`history:     ${h.at} ${h.operation} ${h.from === null ? '' : `v${h.from} `}-> ${h.to === null ? '?' : `v${h.to}`}: ${h.outcome} (exit ${h.code})`);
  if (report.timer !== null) lines.push(`logs:        ${journalctlCommand(report.units.service)}`);
  return lines.join('\n');
}

function describeRun(report: ScheduleReport): string {
  const run = report.lastRun;
  if (run === null) return `never (last trigger: ${report.timer?.lastTrigger ?? 'never'})`;
  if (run.active === 'activating') return `running since ${run.startedAt}`;
  return `${run.startedAt} -> ${run.endedAt ?? '?'}, ${run.result === 'success' ? 'succeeded' : `FAILED (${run.result}, exit ${run.exitStatus ?? '?'})`}`;
}
