import {mkdir, mkdtemp, rm, rmdir} from 'node:fs/promises';
import {join} from 'node:path';

import type {Release} from '../hooks/context.js';
import {hookContext, releaseRef, retainedRelease} from './context.js';
import {downloadArtifact, downloadSmallFile} from './download.js';
import {DownloadError, ParakoError, exitCodeOf, messageOf, RefusedError} from './errors.js';
import {type FeedRelease, fetchIndex, resolveVersion} from './feed.js';
import {finishOperation} from './finish.js';
import {badVersions, readHistory} from './history.js';
import {Journal} from './journal.js';
import {readCurrentVersion, refuseSourceInstall} from './layout.js';
import {runMigration} from './migrate.js';
import {type OperationEnv, type OperationResult, type OperationState, throwIfAborted} from './operation.js';
import {describePlan} from './plan.js';
import {pruneReleases} from './prune.js';
import {exclusively} from './recover.js';
import {type ReleaseManifest, checkManifestBinding, readManifestFromArtifact} from './release-manifest.js';
import {restartAndCheck} from './restart.js';
import {autoRollback} from './rollback.js';
import {checkArchive, DEFAULT_LIMITS, type StageLimits, stageRelease} from './stage.js';
import {swapCurrent} from './swap.js';
import {verifyArtifact} from './verify.js';

export interface UpdateOptions {
  /** `latest`, `1.4.0`, `v1.4.0` or a semver range. */
  version: string;
  dryRun: boolean;
  migrate: boolean;
  /** true forces a backup, false skips it, undefined: when the release declares a migration. */
  backup?: boolean;
  allowDowngrade: boolean;
  restart: boolean;
  yes: boolean;
}

/** The unsigned index names the size; this caps what a hostile feed can make us write. */
const DEFAULT_MAX_DOWNLOAD_BYTES = 8 * 1024 ** 3;

/** `parako update`: the pipeline of architecture.md §3, one phase per line. */
export async function update(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  if (options.dryRun) {
    await refuseSourceInstall(env.layout);
    return dryRun(env, options);
  }
  return exclusively(env, `update --version ${options.version}`, () => runUpdate(env, options));
}

async function runUpdate(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  const {layout} = env;
  const target = await resolveTarget(env, options);
  if (target.from === target.release.version) {
    return {code: 0, outcome: 'up-to-date', message: `already on v${target.from}; nothing to do`, from: target.from, to: target.from};
  }
  const state: OperationState = {
    operation: 'update', startedAt: Date.now(), from: target.from, to: target.release.version, records: {}, swapped: false, migrationRan: false,
  };
  const journal = new Journal(layout, env.log);
  await journal.begin({operation: 'update', from: state.from, to: state.to});
  const releases: {from?: Release; to: Release} = {from: await retainedRelease(env, state.from), to: releaseRef(env, state.to)};
  state.releases = releases;
  // Signals are honoured up to the swap; after it the operation finishes (OperationEnv.signal).
  const ctx = () => hookContext(env, state, releases, state.swapped ? new AbortController().signal : env.signal, {});
  const artifact = join(layout.downloadsDir, artifactName(env, target.release));
  try {
    await journal.phase('pre-download');
    await env.hooks.run('pre-download', ctx());
    throwIfAborted(env.signal, 'the download');
    await journal.phase('download', {download: artifact});
    await mkdir(layout.downloadsDir, {recursive: true, mode: 0o700});
    const bundle = await fetchRelease(env, target.release, artifact);
    await journal.phase('verify');
    releases.to.manifest = await verifyRelease(env, target.release, artifact, bundle);
    await journal.phase('post-verify');
    await env.hooks.run('post-verify', ctx());
    await confirmBreaking(env, options, releases.to.manifest);
    throwIfAborted(env.signal, 'staging');
    await journal.phase('stage');
    const staged = await stageRelease({
      layout, artifact, app: env.config.app, version: state.to, limits: stageLimits(env),
      // What runs is what was shown: stage refuses a release.json on disk that is not this one.
      shown: releases.to.manifest, signal: env.signal,
      onStagingDir: async (stagingDir) => journal.note({stagingDir}),
    });
    if (!staged.reused) state.createdRelease = staged.path;
    releases.to.manifest = staged.manifest;
    env.out.say(staged.reused ? `reusing the retained release ${staged.path}` : `staged v${state.to} in ${staged.path}`);
    await removeDownload(artifact, bundle);
    await journal.phase('pre-swap', {stagingDir: undefined});
    await env.hooks.run('pre-swap', {...ctx(), ...backupIntent(env, options, releases.to.manifest)});
    throwIfAborted(env.signal, 'the swap');
    await journal.phase('swap');
    await swapCurrent(layout, state.to);
    state.swapped = true;
    await journal.note({swapped: true});
    env.out.say(`current -> releases/v${state.to}`);
    await journal.phase('post-swap');
    await env.hooks.run('post-swap', ctx());
    await migrate(env, options, state, journal, releases.to.manifest);
  } catch (error) {
    return failBeforeRestart(env, state, journal, error, [artifact]);
  }
  if (!options.restart) {
    env.out.say('restart skipped (--no-restart): restart the service yourself, then check its health');
  } else {
    await journal.phase('restart');
    const bringUp = await restartAndCheck(env, state, releases, journal);
    if (!bringUp.healthy) return autoRollback(env, state, journal, releases, bringUp.reason ?? 'unhealthy');
  }
  await journal.phase('prune');
  const pruned = await pruneReleases(layout, env.config.keepReleases, [state.to, state.from]);
  if (pruned.length > 0) env.out.say(`pruned ${pruned.map((r) => `v${r.version}`).join(', ')} (keepReleases ${env.config.keepReleases})`);
  // Partial downloads of other versions, kept by interrupted runs for resuming, are done with.
  await rm(layout.downloadsDir, {recursive: true, force: true});
  return finishOperation(env, state, journal, {
    code: 0,
    outcome: state.from === undefined ? 'installed' : 'updated',
    message: state.from === undefined ? `installed v${state.to}` : `updated v${state.from} -> v${state.to}`,
  });
}

interface Target {
  from?: string;
  release: FeedRelease;
}

/** Phase 1: read the feed and pick the version, refusing what §5 says to refuse. */
async function resolveTarget(env: OperationEnv, options: Pick<UpdateOptions, 'version' | 'allowDowngrade'>): Promise<Target> {
  const from = await readCurrentVersion(env.layout);
  const index = await fetchIndex(env.config.source.index, env.config.app, env.http, env.signal);
  const bad = badVersions(await readHistory(env.layout));
  const {release, skippedBad} = resolveVersion(index, {spec: options.version, current: from, allowDowngrade: options.allowDowngrade, bad});
  for (const version of skippedBad) {
    env.out.say(`skipping v${version}: it failed its health check before (name it with --version ${version} to try it again)`);
  }
  return {from, release};
}

function stageLimits(env: OperationEnv): StageLimits {
  return {...DEFAULT_LIMITS, ...env.config.limits};
}

function artifactName(env: OperationEnv, release: FeedRelease): string {
  return `${env.config.app}-v${release.version}-${release.sha256.slice(0, 12)}.tar.gz`;
}

/** Phase 3: the artifact, streamed and hashed, and its Sigstore bundle. */
async function fetchRelease(env: OperationEnv, release: FeedRelease, artifact: string): Promise<string> {
  const maxBytes = env.config.limits?.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  if (release.size > maxBytes) {
    throw new DownloadError(`the feed says v${release.version} is ${release.size} bytes, more than limits.maxDownloadBytes (${maxBytes}); not downloading it`, {
      next: 'if the release really is that large, raise limits.maxDownloadBytes in parako.json; nothing was changed',
    });
  }
  const bundle = `${artifact}.sigstore.json`;
  await downloadSmallFile(release.bundleUrl, bundle, 1024 * 1024, env.http, env.signal);
  const downloaded = await downloadArtifact({
    url: release.artifactUrl, file: artifact, size: release.size, client: env.http, log: env.log, signal: env.signal,
    onProgress: (received, total) => env.out.progress(received, total),
  });
  env.out.progressDone();
  env.out.say(`downloaded ${release.artifactUrl} (${release.size} bytes, sha256 ${downloaded.sha256})`);
  return bundle;
}

/** Phase 4: nothing is parsed or extracted before this passes (verify-before-parse). */
async function verifyRelease(env: OperationEnv, release: FeedRelease, artifact: string, bundle: string): Promise<ReleaseManifest> {
  const policy = env.config.verify;
  const verified = await verifyArtifact({
    artifactPath: artifact, bundlePath: bundle, policy, expectedSha256: release.sha256, baseDir: env.layout.dir,
  });
  env.out.say(`verified: signed by ${verified.signer}${verified.issuer === undefined ? '' : ` (issuer ${verified.issuer})`}`);
  const manifest = await readManifestFromArtifact(artifact);
  checkManifestBinding(manifest, env.config.app, release.version, 'the artifact');
  return manifest;
}

async function confirmBreaking(env: OperationEnv, options: UpdateOptions, manifest: ReleaseManifest): Promise<void> {
  if (options.yes || manifest.breaking.length === 0) return;
  env.out.say(`v${manifest.version} has breaking changes:\n${manifest.breaking.map((b) => `  - ${b}`).join('\n')}`);
  const answer = await env.out.confirm('install it?');
  if (answer === undefined) {
    throw new RefusedError(`v${manifest.version} has breaking changes and nobody is at a terminal to accept them; nothing was changed`, {
      next: `read them (parako update --dry-run), then run parako update --version ${manifest.version} --yes`,
    });
  }
  if (!answer) throw new RefusedError('declined at the breaking-changes prompt; nothing was changed', {next: 'run parako update --yes to accept them'});
}

/** Tells the pre-swap hooks (backup plugins) whether this update wants a backup. */
function backupIntent(env: OperationEnv, options: UpdateOptions, manifest: ReleaseManifest): {backup: {wanted: boolean; forced: boolean; skipped: boolean}} {
  const declared = manifest.migration !== null;
  const wanted = options.backup ?? declared;
  if (options.backup === false && declared) {
    env.out.say('warning: --no-backup: no database backup is taken although this release declares a migration; if it goes wrong there is nothing to restore');
  }
  return {backup: {wanted, forced: options.backup === true, skipped: options.backup === false}};
}

/** Phase 9: with --migrate the signed migration runs in `current`; without, it is printed. */
async function migrate(env: OperationEnv, options: UpdateOptions, state: OperationState, journal: Journal, manifest: ReleaseManifest): Promise<void> {
  const migration = manifest.migration;
  if (migration === null) return;
  if (!options.migrate) {
    env.out.say(`this release declares a migration; run it yourself in ${env.layout.currentLink}:\n  ${migration.command}\n(or pass --migrate to let parako run it)`);
    return;
  }
  await journal.phase('migrate', {migrationStarted: true});
  state.migrationRan = true;
  await runMigration(env, migration.command, env.layout.currentLink, 'migration');
}

/**
 * A failure before the restart: put everything back as it was (current re-aimed, a release
 * dir this run created removed, the download gone), record it, notify, and report.
 */
async function failBeforeRestart(env: OperationEnv, state: OperationState, journal: Journal, error: unknown, downloads: string[]): Promise<OperationResult> {
  const undone: string[] = [];
  if (state.swapped) {
    if (state.from !== undefined) await swapCurrent(env.layout, state.from);
    else await rm(env.layout.currentLink, {force: true});
    state.swapped = false;
    undone.push(state.from === undefined ? 'current removed again' : `current re-aimed at v${state.from}`);
  }
  if (state.createdRelease !== undefined) await rm(state.createdRelease, {recursive: true, force: true});
  for (const file of downloads) await removeDownload(file, `${file}.sigstore.json`);
  await rmdir(env.layout.downloadsDir).catch(() => undefined); // only when empty: a kept partial download of another run stays
  const code = exitCodeOf(error);
  const backup = state.records.backup as {restore?: string} | undefined;
  const restore = state.migrationRan && backup?.restore !== undefined ? ` The migration may have changed the database: restore the backup with: ${backup.restore}` : '';
  const where = state.from === undefined ? 'nothing is installed' : `current is still v${state.from}`;
  const message = `${messageOf(error).replace(/[.;]?\s*$/, '')}${undone.length > 0 ? ` (${undone.join(', ')})` : ''}; ${where}.${restore}`;
  // The operator reads the message on stderr; the log keeps it for later without repeating it there.
  env.log.info({err: messageOf(error), code}, 'update failed');
  const result = await finishOperation(env, state, journal, {
    code, outcome: 'failed', message, next: error instanceof ParakoError ? error.next : 'see .parako/parako.log, then run parako update again',
    reason: error instanceof ParakoError ? error.reason : 'unexpected',
  });
  return result;
}

async function removeDownload(artifact: string, bundle: string): Promise<void> {
  await rm(artifact, {force: true});
  await rm(bundle, {force: true});
}

/** `update --dry-run`: download and verify into TMPDIR, print the plan, change nothing. */
async function dryRun(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  const target = await resolveTarget(env, options);
  const from = target.from;
  if (from === target.release.version) {
    return {code: 0, outcome: 'dry-run', message: `already on v${from}; nothing to do`, from, to: from};
  }
  const scratch = await mkdtemp(join(env.tmpDir, 'parako-dry-run-'));
  try {
    const state: OperationState = {operation: 'update', startedAt: Date.now(), from, to: target.release.version, records: {}, swapped: false, migrationRan: false};
    const releases: {from?: Release; to: Release} = {from: await retainedRelease(env, from), to: releaseRef(env, state.to)};
    const ctx = () => hookContext(env, state, releases, env.signal, {dryRun: true});
    await env.hooks.run('pre-download', ctx());
    const artifact = join(scratch, artifactName(env, target.release));
    const bundle = await fetchRelease(env, target.release, artifact);
    releases.to.manifest = await verifyRelease(env, target.release, artifact, bundle);
    // Nothing is staged, so every entry is checked here as staging would: an archive the update
    // would refuse (a second release.json, say) is refused now, not shown as a plan.
    await checkArchive(artifact, stageLimits(env));
    await env.hooks.run('post-verify', {...ctx(), ...backupIntent(env, options, releases.to.manifest)});
    const plan = await describePlan(env, {from, to: releases.to.manifest, options, records: state.records});
    env.out.say(plan.text);
    return {code: 0, outcome: 'dry-run', message: `would update ${from === undefined ? '(fresh install)' : `v${from}`} -> v${state.to}`, from: from ?? null, to: state.to, plan: plan.data};
  } finally {
    await rm(scratch, {recursive: true, force: true});
  }
}
