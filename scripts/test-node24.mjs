#!/usr/bin/env node
// The second half of `npm test`: operators run parako on whatever Node their distribution
// ships, so the reliability suite, the unit tests and the core integration tests run again on
// Node 24: the pinned runtime the standalone tarball and the .deb ship (scripts/node-runtime.mjs),
// fetched once into node_modules/.cache. Where it cannot be had (another platform, no registry)
// the run is skipped with the reason; under CI=true that is a failure, as for any missing real
// component.
import {spawnSync} from 'node:child_process';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {nodeRuntime} from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, 'node_modules', '.cache', 'parako-node');
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

let binary = process.env.PARAKO_NODE24;
if (binary === undefined) {
  try {
    binary = await nodeRuntime(cache, (line) => console.log(`node 24 run: ${line}`));
  } catch (error) {
    unavailable(error.message);
  }
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
