import {Flags} from '@oclif/core';
import semver from 'semver';

import {ParakoCommand} from '../cli/base.js';
import {formatBytes} from '../cli/terminal.js';
import {fetchIndex} from '../core/feed.js';
import {badMarks, clearBadMark, readHistory} from '../core/history.js';
import {listRetained, readCurrentVersion, readReleaseSize} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {readManifestFromDir} from '../core/release-manifest.js';

export default class Releases extends ParakoCommand {
  static override summary = 'Versions in the feed, marking current, retained, newer, and which declare a migration';
  static override examples = ['<%= config.bin %> releases', '<%= config.bin %> releases --json', '<%= config.bin %> releases --clear-bad 1.4.1'];

  static override flags = {
    'clear-bad': Flags.string({
      description: 'lift the bad mark of this version (it failed its health check here), so update to latest takes it again; recorded in the history',
    }),
  };

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Releases);
    const env = await this.environment(flags);
    const current = await readCurrentVersion(env.layout);
    const retained = new Set((await listRetained(env.layout)).map((r) => r.version));
    if (flags['clear-bad'] !== undefined) this.terminal.say(await clearBadMark(env.layout, flags['clear-bad']));
    const bad = badMarks(await readHistory(env.layout));
    const index = await fetchIndex(env.config.source.index, env.config.app, env.http, env.signal);
    const rows = [];
    for (const release of index.releases) {
      // Only a retained release's migration is known for sure: release.json is inside the signed artifact.
      const manifest = retained.has(release.version) ? await readManifestFromDir(env.layout.releaseDir(release.version)).catch(() => undefined) : undefined;
      // As recorded when it was staged: nothing walks a release tree here.
      const staged = retained.has(release.version) ? await readReleaseSize(env.layout, release.version) : undefined;
      rows.push({
        version: release.version,
        current: release.version === current,
        retained: retained.has(release.version),
        newer: current === undefined || semver.gt(release.version, current),
        bad: bad.has(release.version),
        badWhy: bad.get(release.version) === undefined ? null : `${bad.get(release.version)!.why} on ${bad.get(release.version)!.at}`,
        migration: manifest === undefined ? release.migration ?? null : manifest.migration !== null,
        size: release.size,
        bytes: staged?.bytes ?? null,
        files: staged?.files ?? null,
      });
    }
    const lines = [`feed: ${index.url}`];
    if (rows.length === 0) lines.push('  (no releases)');
    for (const row of rows) {
      const marks = [
        row.current ? 'current' : '',
        row.retained && !row.current ? 'retained' : '',
        row.newer && !row.current ? 'newer' : '',
        row.badWhy === null ? '' : `failed health (${row.badWhy}; parako releases --clear-bad ${row.version} lifts the mark)`,
        row.migration === true ? 'migration' : row.migration === null ? 'migration: unknown until downloaded' : '',
      ].filter(Boolean);
      const size = row.bytes === null || row.files === null ? '' : `  (${formatBytes(row.bytes)} in ${row.files} files)`;
      lines.push(`  v${row.version.padEnd(14)} ${marks.join(', ')}${size}`);
    }
    this.terminal.say(lines.join('\n'));
    return {code: 0, outcome: 'releases', message: '', from: current ?? null, to: current ?? null, releases: rows};
  }
}
