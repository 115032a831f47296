import {execCommand} from './exec.js';
import {MigrationError} from './errors.js';
import type {OperationEnv} from './operation.js';

/**
 * Runs a migration command line from the signed release.json (never from the unsigned index)
 * through /bin/sh in `cwd`, as `migration.runAs`, streaming its output to the operator.
 * `migration.env` is added to its environment: root's own, or as another user the reset one.
 */
export async function runMigration(env: OperationEnv, command: string, cwd: string, label: 'migration' | 'reverse migration'): Promise<void> {
  const runAs = env.config.migration?.runAs;
  env.out.say(`running ${label}${runAs === undefined ? '' : ` as ${runAs}`}: ${command}`);
  let result;
  try {
    result = await execCommand('/bin/sh', ['-c', command], {
      cwd,
      runAs,
      env: env.config.migration?.env,
      log: env.log,
      onOutput: (line) => env.out.say(`  | ${line}`),
    });
  } catch (error) {
    throw new MigrationError(`the ${label} could not start: ${(error as Error).message}`, {cause: error});
  }
  if (result.code !== 0) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n  ');
    throw new MigrationError(`the ${label} failed with exit code ${result.code}${result.signal ? ` (${result.signal})` : ''}${tail ? `:\n  ${tail}` : ''}`);
  }
}
