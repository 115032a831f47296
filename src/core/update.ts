import {mkdir, mkdtemp, rm, rmdir} from 'node:fs/promises';
import {join} from 'node:path';

import {releaseRef, retainedRelease} from './context.js';
import {downloadArtifact, downloadSmallFile} from './download.js';
import type {ArtifactPass} from './verify.js';
import {DownloadError, ENDINGS, ExitCode, exitCodeOf, messageOf, RefusedError} from './errors.js';
import {type FeedRelease, fetchIndex, resolveVersion} from './feed.js';
import {badVersions, readHistory} from './history.js';
import {readCurrentVersion, recordReleaseSize, refuseSourceInstall} from './layout.js';
import {runMigration} from './migrate.js';
import type {OperationEnv, OperationResult} from './operation.js';
import {Pipeline} from './pipeline.js';
import {describePlan} from './plan.js';
import {holdOf, hintsOf, type NeedsAPerson, refuseUnattended, releasesBetween} from './policy.js';
import {describePruned, pruneReleases, pruneRules} from './prune.js';
import {exclusively} from './recover.js';
import {type ReleaseManifest, checkManifestBinding, readManifestFromArtifact} from './release-manifest.js';
import {restartAndCheck} from './restart.js';
import {autoRollback} from './rollback.js';
import type {StageLimits} from './stage.js';
import {swapCurrent} from './swap.js';

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
  /**
   * Nobody is there to ask (the scheduled run): no prompt, and what `updates.unattended` does
   * not allow (breaking changes, a migration) is refused; what it allows runs as with --yes
   * and --migrate.
   */
  unattended: boolean;
}

/** The unsigned index names the size; this caps what a hostile feed can make us write. */
const DEFAULT_MAX_DOWNLOAD_BYTES = 8 * 1024 ** 3;

/**
 * `parako update`: the pipeline of architecture.md §3, one phase per line. sigstore (verify.js)
 * and tar (stage.js) are imported by the phases that use them, so a run that finds nothing to
 * do (the daily timer's usual run) loads neither.
 */
export async function update(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  const held = holdOf(env.config);
  if (held !== undefined) return stayHeld(env, options, held);
  if (options.dryRun) {
    await refuseSourceInstall(env.layout);
    return dryRun(env, options);
  }
  return exclusively(env, `update --version ${options.version}`, () => runUpdate(env, options));
}

async function runUpdate(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  const {layout} = env;
  const target = await resolveTarget(env, options);
  const {from} = target;
  const to = target.release.version;
  if (from === to) return {code: ENDINGS['up-to-date'].code, outcome: 'up-to-date', message: `already on v${from}; nothing to do`, from, to};
  if (options.unattended) refuseUnattended(env.config, target.between.map(hintsOf), 'the feed index');
  const run = await Pipeline.begin(env, {operation: 'update', from, to, releases: {from: await retainedRelease(env, from), to: releaseRef(env, to)}});
  const {state, releases} = run;
  const artifact = join(layout.downloadsDir, artifactName(env, target.release));
  try {
    await run.hooks('pre-download');
    run.stopIfSignalled('the download');
    await run.phase('download', {download: artifact});
    await mkdir(layout.downloadsDir, {recursive: true, mode: 0o700});
    const fetched = await fetchRelease(env, target.release, artifact);
    await run.phase('verify');
    releases.to.manifest = await verifyRelease(env, target.release, artifact, fetched);
    await run.hooks('post-verify');
    if (options.unattended) refuseUnattended(env.config, [signedNeeds(releases.to.manifest)], 'its signed release.json');
    else await confirmBreaking(env, options, releases.to.manifest);
    run.stopIfSignalled('staging');
    await run.phase('stage');
    const {stageRelease} = await import('./stage.js');
    const staged = await stageRelease({
      layout, artifact, app: env.config.app, version: to, limits: await stageLimits(env),
      // What runs is what was shown: stage refuses a release.json on disk that is not this one.
      shown: releases.to.manifest, signal: env.signal, log: env.log,
      onStagingDir: async (stagingDir) => run.note({stagingDir}),
    });
    if (!staged.reused) {
      state.createdRelease = staged.path;
      state.createdSize = staged.size;
    }
    releases.to.manifest = staged.manifest;
    env.out.say(staged.reused ? `reusing the retained release ${staged.path}` : `staged v${to} in ${staged.path}`);
    await removeDownload(artifact, fetched.bundle);
    await run.hooks('pre-swap', backupIntent(env, options, releases.to.manifest), {stagingDir: undefined});
    run.stopIfSignalled('the swap');
    await run.swap();
    await run.hooks('post-swap');
    await migrate(run, options, releases.to.manifest);
  } catch (error) {
    return failBeforeRestart(run, error, [artifact]);
  }
  // From here the release stays, whatever the restart brings (an automatic rollback keeps it
  // retained): status shows its size from this record instead of walking it.
  if (state.createdSize !== undefined) await recordReleaseSize(layout, to, state.createdSize);
  if (!options.restart) {
    env.out.say('restart skipped (--no-restart): restart the service yourself, then check its health');
  } else {
    const bringUp = await restartAndCheck(run);
    if (!bringUp.healthy) return autoRollback(run, bringUp.reason ?? 'unhealthy');
  }
  await run.phase('prune');
  const pruned = await pruneReleases(layout, pruneRules(await readHistory(layout), env.config.keepReleases, to, [from]));
  const prunedLine = describePruned(pruned, env.config.keepReleases);
  if (prunedLine !== undefined) env.out.say(prunedLine);
  // Partial downloads of other versions, kept by interrupted runs for resuming, are done with.
  await rm(layout.downloadsDir, {recursive: true, force: true});
  return from === undefined ? run.end('installed', `installed v${to}`) : run.end('updated', `updated v${from} -> v${to}`);
}

interface Target {
  from?: string;
  release: FeedRelease;
  /** The feed's releases the update goes over, oldest first, the target last. */
  between: FeedRelease[];
}

/** Phase 1: read the feed and pick the version, refusing what §5 says to refuse. */
async function resolveTarget(env: OperationEnv, options: Pick<UpdateOptions, 'version' | 'allowDowngrade'>): Promise<Target> {
  const from = await readCurrentVersion(env.layout);
  const index = await fetchIndex(env.config.source.index, env.config.app, env.http, env.signal);
  const bad = badVersions(await readHistory(env.layout));
  const {release, skippedBad} = resolveVersion(index, {spec: options.version, current: from, allowDowngrade: options.allowDowngrade, bad, channel: env.config.updates?.channel});
  for (const version of skippedBad) {
    env.out.say(`skipping v${version}: it failed its health check before (name it with --version ${version} to try it again)`);
  }
  return {from, release, between: releasesBetween(index, from, release.version)};
}

/**
 * `updates.hold`: `update` stays where it is. Without --version that is the expected answer
 * (a timer's run exits 0 and says so); a person naming a version is told to lift the hold.
 */
async function stayHeld(env: OperationEnv, options: UpdateOptions, held: string): Promise<OperationResult> {
  await refuseSourceInstall(env.layout);
  const current = await readCurrentVersion(env.layout);
  const where = current === undefined ? 'nothing is installed' : `current stays on v${current}`;
  if (options.version !== 'latest') {
    throw new RefusedError(`this host is held (${held}); not installing ${options.version}: ${where}`, {
      next: 'remove updates.hold from parako.json to let updates through; nothing was changed',
    });
  }
  return {code: ExitCode.ok, outcome: 'held', message: `held (${held}); ${where}, nothing was changed`, from: current ?? null, to: current ?? null, next: 'remove updates.hold from parako.json to let updates through'};
}

function signedNeeds(manifest: ReleaseManifest): NeedsAPerson {
  return {version: manifest.version, breaking: manifest.breaking, migration: manifest.migration !== null};
}

async function stageLimits(env: OperationEnv): Promise<StageLimits> {
  const {DEFAULT_LIMITS} = await import('./stage.js');
  return {...DEFAULT_LIMITS, ...env.config.limits};
}

function artifactName(env: OperationEnv, release: FeedRelease): string {
  return `${env.config.app}-v${release.version}-${release.sha256.slice(0, 12)}.tar.gz`;
}

interface FetchedRelease {
  bundle: string;
  /** The signature check's digests, fed by the download; absent when the bundle is unusable (verify says why). */
  pass?: ArtifactPass;
}

/** Phase 3: the Sigstore bundle, then the artifact, streamed into the digests its checks need. */
async function fetchRelease(env: OperationEnv, release: FeedRelease, artifact: string): Promise<FetchedRelease> {
  const maxBytes = env.config.limits?.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  if (release.size > maxBytes) {
    throw new DownloadError(`the feed says v${release.version} is ${release.size} bytes, more than limits.maxDownloadBytes (${maxBytes}); not downloading it`, {
      next: 'if the release really is that large, raise limits.maxDownloadBytes in parako.json; nothing was changed',
    });
  }
  const bundle = `${artifact}.sigstore.json`;
  await downloadSmallFile(release.bundleUrl, bundle, 1024 * 1024, env.http, env.signal);
  // The bytes feed the signature check as they arrive; the verify phase decides on it.
  const {ArtifactPass, artifactPassFor} = await import('./verify.js');
  const digestAlgorithm = (await artifactPassFor(bundle))?.digestAlgorithm;
  const downloaded = await downloadArtifact({
    url: release.artifactUrl, file: artifact, size: release.size, client: env.http, log: env.log, signal: env.signal,
    onProgress: (received, total) => env.out.progress(received, total),
    newDigest: () => new ArtifactPass(digestAlgorithm ?? 'sha256'),
  });
  env.out.progressDone();
  env.out.say(`downloaded ${release.artifactUrl} (${release.size} bytes, sha256 ${downloaded.sha256})`);
  return {bundle, pass: digestAlgorithm === undefined ? undefined : downloaded.digest};
}

/** Phase 4: nothing is parsed or extracted before this passes (verify-before-parse). */
async function verifyRelease(env: OperationEnv, release: FeedRelease, artifact: string, fetched: FetchedRelease): Promise<ReleaseManifest> {
  const policy = env.config.verify;
  const {verifyArtifact} = await import('./verify.js');
  const verified = await verifyArtifact({
    artifactPath: artifact, bundlePath: fetched.bundle, policy, expectedSha256: release.sha256, baseDir: env.layout.dir, streamed: fetched.pass,
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
async function migrate(run: Pipeline, options: UpdateOptions, manifest: ReleaseManifest): Promise<void> {
  const {env} = run;
  const migration = manifest.migration;
  if (migration === null) return;
  // Unattended, a migration reached this point only because updates.unattended.migrations allows it.
  if (!options.migrate && !options.unattended) {
    env.out.say(`this release declares a migration; run it yourself in ${env.layout.currentLink}:\n  ${migration.command}\n(or pass --migrate to let parako run it)`);
    return;
  }
  await run.phase('migrate', {migrationStarted: true});
  run.state.migrationRan = true;
  await runMigration(env, migration.command, env.layout.currentLink, 'migration');
}

/**
 * A failure before the restart: put everything back as it was (current re-aimed, a release
 * dir this run created removed, the download gone), record it, notify, and report.
 */
async function failBeforeRestart(run: Pipeline, error: unknown, downloads: string[]): Promise<OperationResult> {
  const {env, state} = run;
  const undone = await run.undoSwap();
  if (state.createdRelease !== undefined) await rm(state.createdRelease, {recursive: true, force: true});
  for (const file of downloads) await removeDownload(file, `${file}.sigstore.json`);
  await rmdir(env.layout.downloadsDir).catch(() => undefined); // only when empty: a kept partial download of another run stays
  const backup = state.records.backup as {restore?: string} | undefined;
  const restore = state.migrationRan && backup?.restore !== undefined ? ` The migration may have changed the database: restore the backup with: ${backup.restore}` : '';
  const where = state.from === undefined ? 'nothing is installed' : `current is still v${state.from}`;
  const message = `${messageOf(error).replace(/[.;]?\s*$/, '')}${undone === undefined ? '' : ` (${undone})`}; ${where}.${restore}`;
  // The operator reads the message on stderr; the log keeps it for later without repeating it there.
  env.log.info({err: messageOf(error), code: exitCodeOf(error)}, 'update failed');
  return run.fail(error, message);
}

async function removeDownload(artifact: string, bundle: string): Promise<void> {
  await rm(artifact, {force: true});
  await rm(bundle, {force: true});
}

/** `update --dry-run`: download and verify into TMPDIR, print the plan, change nothing. */
async function dryRun(env: OperationEnv, options: UpdateOptions): Promise<OperationResult> {
  const target = await resolveTarget(env, options);
  const {from} = target;
  const to = target.release.version;
  if (from === to) return {code: ExitCode.ok, outcome: 'dry-run', message: `already on v${from}; nothing to do`, from, to};
  const scratch = await mkdtemp(join(env.tmpDir, 'parako-dry-run-'));
  try {
    const run = Pipeline.dry(env, {operation: 'update', from, to, releases: {from: await retainedRelease(env, from), to: releaseRef(env, to)}});
    const {releases} = run;
    await run.hooks('pre-download');
    const artifact = join(scratch, artifactName(env, target.release));
    const fetched = await fetchRelease(env, target.release, artifact);
    releases.to.manifest = await verifyRelease(env, target.release, artifact, fetched);
    // Nothing is staged, so every entry is checked here as staging would: an archive the update
    // would refuse (a second release.json, say) is refused now, not shown as a plan.
    const {checkArchive} = await import('./stage.js');
    await checkArchive(artifact, await stageLimits(env));
    await run.hooks('post-verify', backupIntent(env, options, releases.to.manifest));
    const plan = await describePlan(env, {from, to: releases.to.manifest, between: target.between, options, records: run.state.records});
    env.out.say(plan.text);
    return {code: ExitCode.ok, outcome: 'dry-run', message: from === undefined ? `would install v${to}` : `would update v${from} -> v${to}`, from: from ?? null, to, plan: plan.data};
  } finally {
    await rm(scratch, {recursive: true, force: true});
  }
}
