import {readdir, rm} from 'node:fs/promises';
import {join} from 'node:path';

import {ENDINGS} from './errors.js';
import {appendHistory} from './history.js';
import {type JournalEntry, PHASES, readJournal} from './journal.js';
import {isRetained, readCurrentVersion, refuseSourceInstall, STAGING_PREFIX} from './layout.js';
import {acquireLock, removeDeadLockDrafts} from './lock.js';
import type {OperationEnv} from './operation.js';
import {swapCurrent} from './swap.js';

/**
 * Runs a changing operation the only way it may run: refuse a source install, hold the lock
 * (saying so when a dead run's lock is taken over), recover whatever an interrupted run left,
 * then do the work, and release the lock whatever happens.
 */
export async function exclusively<T>(env: OperationEnv, command: string, work: () => Promise<T>): Promise<T> {
  await refuseSourceInstall(env.layout);
  const lock = await acquireLock(env.layout, command);
  try {
    const stale = lock.tookOverFrom;
    if (stale !== undefined) {
      env.out.say(`took over a stale lock of pid ${stale.pid} ("${stale.command}", started ${stale.startedAt}), which is no longer running`);
    }
    await recoverInterrupted(env);
    return await work();
  } finally {
    await lock.release();
  }
}

export interface Recovery {
  found: JournalEntry;
  actions: string[];
}

/**
 * Finishes what an interrupted run (killed, power loss) left: staging and temp entries go,
 * and `current` ends on a complete release — the old one when the service was never
 * restarted onto the new one, otherwise where it is. Runs under the lock.
 */
export async function recoverInterrupted(env: OperationEnv): Promise<Recovery | undefined> {
  const {layout} = env;
  const actions = await removeLeftovers(env);
  const found = await readJournal(layout);
  if (found === undefined) {
    if (actions.length > 0) env.out.say(`cleaned up after an earlier run: ${actions.join('; ')}`);
    return undefined;
  }
  const current = await readCurrentVersion(layout);
  const reachedRestart = PHASES.indexOf(found.phase) >= PHASES.indexOf('restart');
  // A kill between the rename and the journal's note leaves phase "swap" with current on `to`.
  const swapped = found.swapped === true || (found.phase === 'swap' && current === found.to);
  if (swapped && current === found.to && !reachedRestart && found.migrationStarted !== true) {
    // The service was never restarted, so it still runs `from`: point current back at it.
    if (found.from !== undefined && (await isRetained(layout, found.from))) {
      await swapCurrent(layout, found.from);
      actions.push(`current re-aimed at v${found.from} (the interrupted run had swapped but not restarted)`);
    } else if (found.from === undefined) {
      await rm(layout.currentLink, {force: true});
      actions.push('current removed (the interrupted first install had not restarted anything)');
    }
  } else if (found.operation === 'update' && found.phase === 'rollback') {
    // The health check had failed and the automatic rollback was under way.
    actions.push(
      current === found.to
        ? `v${found.to} had failed its health check and was being rolled back: it is marked bad; current stays on v${found.to}: run parako rollback to go back to v${found.from ?? 'the previous release'}`
        : `v${found.to} had failed its health check and is marked bad; current is back on v${current ?? 'nothing'}: check that the service runs it (restart it if not)`,
    );
  } else if (swapped && current === found.to) {
    actions.push(
      `current stays on v${found.to}: the run was interrupted during ${found.phase}${found.migrationStarted ? ' after the migration started' : ''}; check the service, then run parako status (and parako rollback if it is unhealthy)`,
    );
  }
  const after = await readCurrentVersion(layout);
  const summary = `found an interrupted ${found.operation} ${found.from === undefined ? '' : `v${found.from} `}-> v${found.to} (pid ${found.pid}, started ${found.startedAt}, during ${found.phase}); current is ${after === undefined ? 'not set' : `v${after}`}`;
  env.out.say(`${summary}${actions.length > 0 ? `; ${actions.join('; ')}` : ''}`);
  env.log.warn({journal: found, actions}, 'recovered an interrupted operation');
  await appendHistory(layout, {
    at: new Date().toISOString(),
    operation: found.operation,
    from: found.from ?? null,
    to: found.to,
    outcome: 'interrupted',
    code: ENDINGS.interrupted.code,
    migrationRan: found.migrationStarted === true,
    backup: null,
    durationMs: 0,
    message: `${summary}${actions.length > 0 ? `; ${actions.join('; ')}` : ''}`,
    phase: found.phase,
    currentAfter: after ?? null,
  });
  await rm(layout.journalFile, {force: true});
  return {found, actions};
}

/** Staging dirs, half-pruned dirs and temp links only an interrupted run can leave. */
async function removeLeftovers(env: OperationEnv): Promise<string[]> {
  const {layout} = env;
  const actions: string[] = [];
  for (const name of await list(layout.releasesDir)) {
    if (name.startsWith(STAGING_PREFIX) || name.startsWith('.pruning-')) {
      await rm(join(layout.releasesDir, name), {recursive: true, force: true});
      actions.push(`removed releases/${name}`);
    }
  }
  for (const name of await removeDeadLockDrafts(layout)) actions.push(`removed .parako/${name}`);
  for (const name of await list(layout.dir)) {
    if (name.startsWith('current.tmp-')) {
      await rm(join(layout.dir, name), {force: true});
      actions.push(`removed ${name}`);
    }
  }
  return actions;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
