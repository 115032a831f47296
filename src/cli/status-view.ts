import {Layout} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {readStatus, type StatusReport} from '../core/status.js';
import {formatBytes, type Terminal} from './terminal.js';

/**
 * `parako status`: what the oclif command and bin/run.js's fast path (src/cli/fast-status.ts)
 * both run. It needs no parako.json and takes no lock: it must work while an update runs.
 */
export async function statusResult(dir: string, terminal: Terminal): Promise<OperationResult> {
  const report = await readStatus(new Layout(dir));
  terminal.say(render(report));
  return {code: 0, outcome: 'status', message: '', from: report.current, to: report.current, status: report};
}

function render(report: StatusReport): string {
  const lines = [`install dir: ${report.dir}`, `current:     ${report.current === null ? 'none (nothing installed yet)' : `v${report.current}`}`];
  if (report.retained.length === 0) {
    lines.push('retained:    none');
  } else {
    lines.push('retained:');
    for (const r of report.retained) {
      const marks = [r.current ? 'current' : '', r.rollbackTarget ? 'rollback target' : '', r.bad ? 'failed health' : ''].filter(Boolean).join(', ');
      const size = r.bytes === null || r.files === null ? 'size unknown' : `${formatBytes(r.bytes).padStart(10)} in ${r.files} files`;
      lines.push(`  v${r.version.padEnd(14)} ${size}  ${r.installedAt}${marks ? `  (${marks})` : ''}`);
    }
  }
  if (report.inFlight !== null) {
    const {owner, journal} = report.inFlight;
    lines.push(`in flight:   ${owner.command} (pid ${owner.pid}, started ${owner.startedAt})${journal ? `, phase ${journal.phase}` : ''}`);
  }
  if (report.interrupted !== null) {
    const j = report.interrupted;
    lines.push(
      `interrupted: ${j.operation} ${j.from === undefined ? '' : `v${j.from} `}-> v${j.to} stopped during ${j.phase} (pid ${j.pid}, started ${j.startedAt}); the next parako update, rollback or prune recovers it`,
    );
  }
  if (report.last !== null) {
    const l = report.last;
    lines.push(`last:        ${l.at} ${l.operation} ${l.from === null ? '' : `v${l.from} `}-> ${l.to === null ? '?' : `v${l.to}`}: ${l.outcome} (exit ${l.code})${l.message ? `\n             ${l.message}` : ''}`);
  }
  if (report.lastBackup !== null) {
    lines.push(`last backup: ${report.lastBackup.path} (${report.lastBackup.plugin})`, `  restore:   ${report.lastBackup.restore}`);
  }
  return lines.join('\n');
}
