import semver from 'semver';

import type {Release} from '../hooks/context.js';
import {retainedRelease} from './context.js';
import {messageOf, RefusedError, UsageError} from './errors.js';
import {lastInstallOf, previousRelease, readHistory} from './history.js';
import {isRetained, listRetained, readCurrentVersion} from './layout.js';
import {runMigration} from './migrate.js';
import type {OperationEnv, OperationResult, OperationState} from './operation.js';
import {Pipeline} from './pipeline.js';
import {describePruned, pruneReleases, pruneRules} from './prune.js';
import {exclusively} from './recover.js';
import {restartAndCheck} from './restart.js';
import {swapCurrent} from './swap.js';

export interface RollbackOptions {
  /** A retained version; default: the release that was current before this one. */
  to?: string;
  reverseMigration: boolean;
  force: boolean;
  restart: boolean;
}

/** `parako rollback`: pre-swap -> swap -> post-swap -> restart -> health -> notify. */
export async function rollback(env: OperationEnv, options: RollbackOptions): Promise<OperationResult> {
  return exclusively(env, `rollback${options.to === undefined ? '' : ` --to ${options.to}`}`, () => runRollback(env, options));
}

async function runRollback(env: OperationEnv, options: RollbackOptions): Promise<OperationResult> {
  const {layout} = env;
  const current = await readCurrentVersion(layout);
  if (current === undefined) throw new RefusedError(`nothing is installed in ${layout.dir}; there is nothing to roll back`);
  const history = await readHistory(layout);
  const target = await chooseTarget(env, current, options.to, previousRelease(history, current));
  const install = lastInstallOf(history, current);
  const releases: {from?: Release; to: Release} = {from: await retainedRelease(env, current), to: (await retainedRelease(env, target))!};
  const reverse = releases.from?.manifest?.migration?.reverse;
  if (install?.migrationRan === true && !options.force) {
    if (!options.reverseMigration) throw migrationGuard(current, target, reverse);
    if (reverse === undefined) {
      throw new RefusedError(`v${current} ran a migration that declares no reverse; --reverse-migration cannot undo it`, {
        next: `restore the database from the backup taken before v${current} (parako status shows its restore command), then run parako rollback --force. Nothing was changed.`,
      });
    }
  }
  const targetMigration = releases.to.manifest?.migration ?? null;
  if (semver.gt(target, current) && targetMigration !== null && !options.force) {
    throw new RefusedError(`v${target} is newer than v${current} and declares a migration, which rollback does not run`, {
      next: `to move forward with its migration: parako update --version ${target} --migrate (reuses the retained release); if the database already has it: parako rollback --to v${target} --force. Nothing was changed.`,
    });
  }
  const run = await Pipeline.begin(env, {operation: 'rollback', from: current, to: target, releases});
  try {
    await run.hooks('pre-swap', {backup: {wanted: false, forced: false, skipped: false}});
    // As in update: a signal before the swap stops the rollback with nothing changed.
    run.stopIfSignalled('the rollback');
    if (install?.migrationRan === true && options.reverseMigration && !options.force && reverse !== undefined) {
      await run.phase('migrate', {migrationStarted: true});
      await runMigration(env, reverse, releases.from!.path, 'reverse migration');
      run.state.records.reverseMigration = reverse;
    }
    await run.swap();
    await run.hooks('post-swap');
  } catch (error) {
    await run.undoSwap();
    return run.fail(error, `rollback to v${target} failed: ${messageOf(error)}; current is v${current}`);
  }
  if (options.restart) {
    const bringUp = await restartAndCheck(run);
    if (!bringUp.healthy) {
      return run.end('unhealthy', `rolled back to v${target}, but it is not healthy: ${bringUp.reason}`, 'look at the service logs; parako rollback --to <version> picks another retained release');
    }
  } else {
    env.out.say('restart skipped (--no-restart): restart the service yourself, then check its health');
  }
  return run.end('rolled-back', `rolled back v${current} -> v${target}`);
}

async function chooseTarget(env: OperationEnv, current: string, asked: string | undefined, previous: string | undefined): Promise<string> {
  const retained = (await listRetained(env.layout)).map((r) => `v${r.version}`).join(', ') || 'none';
  if (asked !== undefined) {
    // Checked before it becomes a path: releases/v../../x would be outside releases/.
    const version = semver.valid(asked.replace(/^v/, ''));
    if (version === null) {
      throw new UsageError(`--to "${asked}" is not a version (vA.B.C or A.B.C); retained: ${retained}`, {next: 'pick a retained release with --to. Nothing was changed.'});
    }
    if (version === current) throw new RefusedError(`v${version} is already current; nothing to roll back`);
    if (!(await isRetained(env.layout, version))) {
      throw new RefusedError(`v${version} is not retained in ${env.layout.releasesDir} (retained: ${retained})`, {
        next: `pick a retained release with --to, or install it with parako update --version ${version} --allow-downgrade. Nothing was changed.`,
      });
    }
    return version;
  }
  if (previous === undefined) {
    throw new RefusedError(`the history names no release before v${current} (retained: ${retained})`, {
      next: 'name one with parako rollback --to vX.Y.Z. Nothing was changed.',
    });
  }
  if (!(await isRetained(env.layout, previous))) {
    throw new RefusedError(`the previous release v${previous} is no longer retained (retained: ${retained})`, {
      next: 'name a retained one with parako rollback --to vX.Y.Z. Nothing was changed.',
    });
  }
  return previous;
}

/** The seed's decision tree, in words, when code would roll back over a migrated database. */
function migrationGuard(current: string, target: string, reverse: string | undefined): RefusedError {
  return new RefusedError(
    `v${current} was installed with a migration: the database is newer than v${target} expects, so rolling the code back alone could break it`,
    {
      next: [
        reverse === undefined
          ? `v${current} declares no reverse migration: restore the backup taken before v${current} (parako status shows the restore command), then run parako rollback --force`
          : `to undo the migration first, run: parako rollback --reverse-migration (runs "${reverse}")`,
        'if you already reverted the database yourself: parako rollback --force',
        'Nothing was changed.',
      ].join('\n'),
    },
  );
}

/**
 * Step 11's automatic rollback after an update came up unhealthy: re-aim at the previous
 * release (reversing the migration first if one ran and can be reversed), restart, check
 * again. Code 7 when the previous release runs again; 8 when parako could not roll back.
 */
export async function autoRollback(run: Pipeline, reason: string): Promise<OperationResult> {
  const {env, state, releases} = run;
  const from = state.from;
  if (from === undefined) return firstInstallDown(run, reason);
  // The reason is in the result's message, printed once at the end.
  env.out.say(`v${state.to} is unhealthy; rolling back to v${from}`);
  const reverse = releases.to.manifest?.migration?.reverse;
  if (state.migrationRan && reverse === undefined) {
    return run.end(
      'unhealthy',
      `v${state.to} is unhealthy (${reason}) and NOT rolled back: its migration ran and declares no reverse, so v${from} cannot run on the migrated database`,
      `fix forward, or restore the backup${backupHint(state)} and run parako rollback --force`,
    );
  }
  await run.phase('rollback');
  try {
    if (state.migrationRan && reverse !== undefined) await runMigration(env, reverse, releases.to.path, 'reverse migration');
  } catch (error) {
    return run.end(
      'unhealthy',
      `v${state.to} is unhealthy (${reason}) and its reverse migration failed: ${messageOf(error)}; current stays on v${state.to}`,
      `restore the backup${backupHint(state)}, then parako rollback --force`,
    );
  }
  await swapCurrent(env.layout, from);
  env.out.say(`rolled back: current -> releases/v${from}`);
  const again = await restartAndCheck(run, {releases: {from: releases.to, to: releases.from ?? releases.to}});
  if (!again.healthy) {
    return run.end(
      'unhealthy',
      `BOTH RELEASES ARE UNHEALTHY. v${state.to} was unhealthy (${reason}); parako rolled back to v${from}, and v${from} is unhealthy too: ${again.reason}. current is v${from}`,
      'act now: look at the service and its logs; when the release that ran before fails too, the cause is usually the host (a database, a disk, a port), not the release',
    );
  }
  // Automatic rollbacks prune too (the release that failed goes first), or a host that keeps
  // rolling back would keep every release it ever tried.
  await run.phase('prune');
  const rules = pruneRules(await readHistory(env.layout), env.config.keepReleases, from);
  rules.bad.add(state.to); // this run's history line, which marks it, is written when it ends
  const pruned = describePruned(await pruneReleases(env.layout, rules), env.config.keepReleases);
  if (pruned !== undefined) env.out.say(pruned);
  return run.end(
    'auto-rolled-back',
    `v${state.to} was unhealthy (${reason}); rolled back automatically, v${from} is running again. v${state.to} is marked bad and skipped by update to latest`,
    `see the logs of v${state.to}; parako update --version ${state.to} retries it explicitly`,
  );
}

/**
 * A first install whose service did not come up: usually the service is not set up yet (no
 * service defined in the supervisor yet), not a bad release. There is nothing to go back to, so current stays
 * on the release; the history line has no `from`, which keeps the version off the bad list
 * (history.ts badVersions), so the next `update` does not skip the only release.
 */
function firstInstallDown(run: Pipeline, reason: string): Promise<OperationResult> {
  const {env, state} = run;
  const current = env.layout.currentLink;
  const url = env.config.health === undefined ? '' : ` at ${env.config.health.url}`;
  return run.end(
    'unhealthy',
    `v${state.to} is installed at ${current}, but the service did not come up: ${reason}; there is no earlier release to roll back to, so current stays on v${state.to}`,
    [
      `set up the service so it runs ${current} (docs/supervisors.md), start it, and check that it answers${url}; parako status shows what is installed`,
      `v${state.to} is not marked bad, so parako update does not skip it. A first install on a host whose service is not set up yet is done with parako update --no-restart, then starting the service`,
    ].join('\n'),
  );
}

function backupHint(state: OperationState): string {
  const backup = state.records.backup as {restore?: string} | undefined;
  return backup?.restore === undefined ? '' : ` (${backup.restore})`;
}
