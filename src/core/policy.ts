import semver from 'semver';

import type {HostConfig} from './config.js';
import {RefusedError} from './errors.js';
import type {FeedIndex, FeedRelease} from './feed.js';

/**
 * The host's update policy (`updates` in parako.json): a hold, and what an update without a
 * person (`update --unattended`, the scheduled run) may install. The channel is applied where
 * the version is chosen (feed.ts resolveVersion).
 */

/** Why the host is held, in the operator's words; undefined when it is not. */
export function holdOf(config: HostConfig): string | undefined {
  const hold = config.updates?.hold;
  if (hold === undefined) return undefined;
  return hold === true ? 'updates.hold is set in parako.json' : `updates.hold: ${hold}`;
}

/**
 * The releases an update from `from` to `to` goes over, oldest first, `to` last: after `from`
 * up to `to`, prereleases left out unless `to` is one. A fresh install goes over `to` alone.
 */
export function releasesBetween(index: FeedIndex, from: string | undefined, to: string): FeedRelease[] {
  return index.releases
    .filter((release) => release.version === to || (from !== undefined && semver.gt(release.version, from) && semver.lt(release.version, to) && semver.prerelease(release.version) === null))
    .sort((a, b) => semver.compare(a.version, b.version));
}

/** What needs a person in a release: its breaking changes and whether it migrates the database. */
export interface NeedsAPerson {
  version: string;
  breaking: string[];
  migration: boolean;
}

/**
 * Refuses (exit 5) what `updates.unattended` does not allow: breaking changes, a migration.
 * Called twice: before the download with the index's hints for every version skipped over
 * (unsigned, so they can only make the run more careful), and after the verification with the
 * signed release.json, which decides.
 */
export function refuseUnattended(config: HostConfig, releases: NeedsAPerson[], source: 'the feed index' | 'its signed release.json'): void {
  const allowed = {breaking: config.updates?.unattended?.breaking === true, migrations: config.updates?.unattended?.migrations === true};
  const breaking = allowed.breaking ? [] : releases.filter((release) => release.breaking.length > 0);
  const migrating = allowed.migrations ? [] : releases.filter((release) => release.migration);
  if (breaking.length === 0 && migrating.length === 0) return;
  const what = [
    ...breaking.map((release) => `v${release.version} has breaking changes (${release.breaking.join('; ')})`),
    ...migrating.map((release) => `v${release.version} migrates the database`),
  ];
  const keys = [...(breaking.length > 0 ? ['updates.unattended.breaking'] : []), ...(migrating.length > 0 ? ['updates.unattended.migrations'] : [])];
  const target = releases.at(-1)!.version;
  throw new RefusedError(`unattended update refused: ${what.join('; ')}, according to ${source}; an update without a person does not install that`, {
    next: `read it with parako check (or parako update --version ${target} --dry-run), then run parako update --version ${target}${migrating.length > 0 ? ' --migrate' : ''}${breaking.length > 0 ? ' --yes' : ''} yourself; or let unattended updates install it by setting ${keys.join(' and ')} to true in parako.json. Nothing was changed.`,
  });
}

/** The index's hints for a release, in the shape refuseUnattended reads. */
export function hintsOf(release: FeedRelease): NeedsAPerson {
  return {version: release.version, breaking: release.breaking ?? [], migration: release.migration === true};
}
