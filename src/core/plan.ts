import semver from 'semver';

import {backupOf} from './context.js';
import {type BackupRecord, readHistory} from './history.js';
import {listRetained} from './layout.js';
import {RefusedError} from './errors.js';
import type {FeedRelease} from './feed.js';
import type {OperationEnv} from './operation.js';
import {hintsOf, refuseUnattended} from './policy.js';
import {planPrune, pruneRules} from './prune.js';
import type {ReleaseManifest} from './release-manifest.js';

export interface PlanData {
  from: string | null;
  to: string;
  notes: string;
  breaking: string[];
  migration: {command: string; reverse?: string; runs: boolean} | null;
  /** `what`: what the plugin backs up (`PostgreSQL database shop`), as it describes it. */
  backup: {plugin: string; what?: string; method?: string; path?: string; wanted: boolean} | null;
  restart: string[];
  health: string | null;
  prune: string[];
  /**
   * The releases skipped over, oldest first, with what the (unsigned) index says of them: their
   * breaking changes and migrations are the operator's to read too.
   */
  between: Array<{version: string; migration: boolean; breaking: string[]; notes?: string}>;
  /** With --unattended: why an unattended run would refuse this update; null when it would go ahead. */
  unattendedRefusal?: string | null;
}

/** What `update` would do, from the verified release.json: printed by `--dry-run`. */
export async function describePlan(
  env: OperationEnv,
  input: {
    from?: string;
    to: ReleaseManifest;
    between: FeedRelease[];
    options: {migrate: boolean; backup?: boolean; restart: boolean; unattended: boolean};
    records: Record<string, unknown>;
  },
): Promise<{text: string; data: PlanData}> {
  const {config} = env;
  const to = input.to;
  const retained = await listRetained(env.layout);
  const afterInstall = retained.some((r) => r.version === to.version)
    ? retained
    : [{version: to.version, path: env.layout.releaseDir(to.version), modifiedAt: new Date()}, ...retained];
  const rules = pruneRules(await readHistory(env.layout), config.keepReleases, to.version, [input.from]);
  const prune = planPrune(afterInstall.sort((a, b) => semver.rcompare(a.version, b.version)), rules)
    .remove.map((r) => r.version);
  const wanted = input.options.backup ?? to.migration !== null;
  const recorded = backupOf(input.records);
  const method = (input.records.backup as {method?: unknown} | undefined)?.method;
  const data: PlanData = {
    from: input.from ?? null,
    to: to.version,
    notes: to.notes,
    breaking: to.breaking,
    migration: to.migration === null ? null : {...to.migration, runs: input.options.migrate || input.options.unattended},
    backup: backupPlan(env, recorded, typeof method === 'string' ? method : undefined, wanted),
    restart: !input.options.restart ? [] : restartTargets(env),
    health: input.options.restart ? config.health?.url ?? null : null,
    prune,
    between: input.between.filter((r) => r.version !== to.version).map((r) => ({version: r.version, migration: r.migration === true, breaking: r.breaking ?? [], notes: r.notes})),
    ...(input.options.unattended ? {unattendedRefusal: unattendedVerdict(config, input.between, to)} : {}),
  };
  const lines = [`plan: ${data.from === null ? 'fresh install of' : `v${data.from} ->`} v${data.to}`];
  if (data.between.length > 0) {
    lines.push(`goes over (as the feed index says; unsigned): ${data.between.map(({version, migration, breaking}) => `v${version}${migration ? ' (migration)' : ''}${breaking.length > 0 ? ` (breaking: ${breaking.join('; ')})` : ''}`).join(', ')}`);
  }
  if (data.notes !== '') lines.push('notes:', ...data.notes.split('\n').map((l) => `  ${l}`));
  if (data.breaking.length > 0) lines.push('breaking changes:', ...data.breaking.map((b) => `  - ${b}`));
  if (data.migration === null) lines.push('migration: none');
  else lines.push(`migration: ${data.migration.command}${data.migration.runs ? ' (parako runs it: --migrate)' : ' (printed for you to run; --migrate runs it)'}${data.migration.reverse ? `; reverse: ${data.migration.reverse}` : '; no reverse declared'}`);
  if (data.backup === null) lines.push(`backup: none configured${to.migration !== null ? ' (warning: this release migrates the database)' : ''}`);
  else lines.push(`backup: ${data.backup.wanted ? `would be taken by ${data.backup.plugin}${data.backup.what === undefined ? '' : ` of ${data.backup.what}`}${data.backup.method === undefined ? '' : ` ${data.backup.method}`}${data.backup.path ? ` to ${data.backup.path}` : ''}` : `not taken (${input.options.backup === false ? '--no-backup' : 'no migration'})`}`);
  lines.push(`restart: ${data.restart.length > 0 ? data.restart.join(', ') : input.options.restart ? 'no supervisor configured' : 'skipped (--no-restart)'}`);
  if (data.health !== null) lines.push(`health: ${data.health} within ${config.health?.timeoutSeconds} s, rollback if unhealthy`);
  lines.push(`prune: ${data.prune.length > 0 ? data.prune.map((v) => `v${v}`).join(', ') : 'nothing'}`);
  if (data.unattendedRefusal !== undefined) lines.push(`unattended: ${data.unattendedRefusal === null ? 'would install it' : `would refuse it: ${data.unattendedRefusal}`}`);
  lines.push('dry run: nothing was changed');
  return {text: lines.join('\n'), data};
}

/** Why `update --unattended` would refuse, from the index's hints and the signed release.json; null when it would not. */
function unattendedVerdict(config: OperationEnv['config'], between: FeedRelease[], to: ReleaseManifest): string | null {
  try {
    refuseUnattended(config, between.map(hintsOf), 'the feed index');
    refuseUnattended(config, [{version: to.version, breaking: to.breaking, migration: to.migration !== null}], 'its signed release.json');
    return null;
  } catch (error) {
    if (error instanceof RefusedError) return error.message.replace(/^unattended update refused: /, '');
    throw error;
  }
}

/** What the supervisor plugin says a restart restarts (one line per unit, app or service it restarts). */
function restartTargets(env: OperationEnv): string[] {
  return env.hooks.supervisorView({app: env.config.app, dir: env.layout.dir})?.describe() ?? [];
}

/** Which plugin would back up what; the plugin's own record (its path) when it made one. */
function backupPlan(env: OperationEnv, recorded: BackupRecord | null, method: string | undefined, wanted: boolean): PlanData['backup'] {
  if (env.config.backup === undefined) return null;
  const view = env.hooks.backupView({app: env.config.app, dir: env.layout.dir});
  return {plugin: recorded?.plugin ?? view?.plugin ?? `the plugin for backup.type "${env.config.backup.type}"`, ...(view === undefined ? {} : {what: view.describe}), method, path: recorded?.path, wanted};
}
