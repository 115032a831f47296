import semver from 'semver';

import {ExitCode} from './errors.js';
import {fetchIndex, resolveVersion} from './feed.js';
import {badVersions, readHistory} from './history.js';
import {readCurrentVersion} from './layout.js';
import type {OperationEnv, OperationResult} from './operation.js';
import {hintsOf, holdOf, refuseUnattended, releasesBetween} from './policy.js';

/** One release an update would go over, as the (unsigned) feed index describes it. */
export interface AvailableRelease {
  version: string;
  migration: boolean;
  breaking: string[];
  notes: string | null;
}

/**
 * `parako check`: is a release newer than `current` in the feed that `update` would install
 * (within `updates.channel`, skipping versions marked bad)? Exit 9 when there is, 0 when not
 * or when the host is held. Reads the feed and the history; changes nothing, takes no lock.
 */
export async function checkForUpdate(env: Pick<OperationEnv, 'layout' | 'config' | 'http' | 'signal'>): Promise<OperationResult> {
  const {layout, config} = env;
  const current = await readCurrentVersion(layout);
  const index = await fetchIndex(config.source.index, config.app, env.http, env.signal);
  const bad = badVersions(await readHistory(layout));
  const channel = config.updates?.channel;
  const within = channel === undefined ? '' : ` in the channel "${channel}"`;
  const newest = index.releases.find((release) => semver.prerelease(release.version) === null && !bad.has(release.version) && (channel === undefined || semver.satisfies(release.version, channel)));
  const base = {from: current ?? null, channel: channel ?? null, skippedBad: [...bad].filter((version) => current === undefined || semver.gt(version, current)).sort(semver.compare)};
  if (newest === undefined || (current !== undefined && !semver.gt(newest.version, current))) {
    const message = current === undefined ? `the feed has no release${within} to install` : `v${current} is up to date: no newer release${within}`;
    return {code: ExitCode.ok, outcome: 'up-to-date', message, to: current ?? null, available: [], held: null, ...base};
  }
  // The same choice update makes; it cannot refuse here, the version is newer and in the channel.
  const {release} = resolveVersion(index, {spec: newest.version, current, allowDowngrade: false, bad, channel});
  const between = releasesBetween(index, current, release.version);
  const available: AvailableRelease[] = between.map((r) => ({version: r.version, migration: r.migration === true, breaking: r.breaking ?? [], notes: r.notes ?? null}));
  const held = holdOf(config) ?? null;
  let unattended: string | null = null;
  try {
    refuseUnattended(config, between.map(hintsOf), 'the feed index');
  } catch (error) {
    unattended = (error as Error).message.replace(/^unattended update refused: /, '');
  }
  const from = current === undefined ? 'nothing is installed' : `current v${current}`;
  const result = {
    ...base,
    to: release.version,
    available,
    held,
    // What a scheduled run (update --unattended) would do with it, as far as the index tells.
    unattendedRefusal: unattended,
  };
  if (held !== null) {
    return {code: ExitCode.ok, outcome: 'held', message: `v${release.version} is available (${from}), but this host is held (${held})`, next: 'remove updates.hold from parako.json to let updates through', ...result};
  }
  return {
    code: ExitCode.updateAvailable,
    outcome: 'update-available',
    message: `v${release.version} is available (${from})${unattended === null ? '' : `; an unattended update would refuse it: ${unattended}`}`,
    next: 'parako update --dry-run shows the plan; parako update installs it',
    ...result,
  };
}

/** The human lines for the releases an update would go over. */
export function describeAvailable(available: AvailableRelease[]): string {
  return available
    .map((release) => {
      const lines = [`  v${release.version}${release.migration ? '  migration' : ''}${release.breaking.length > 0 ? '  BREAKING' : ''}`];
      for (const change of release.breaking) lines.push(`      breaking: ${change}`);
      if (release.notes !== null && release.notes !== '') lines.push(...release.notes.split('\n').map((line) => `      ${line}`));
      return lines.join('\n');
    })
    .join('\n');
}
