/**
 * `npm run demo`: parako end to end on this machine, no network needed. It makes a private
 * Sigstore instance, a release feed on 127.0.0.1 with three signed releases, and an install
 * dir; then installs v1.0.0, shows the plan for v1.1.0, updates, rolls back, and refuses a
 * release signed by someone the policy does not trust. Pass --keep to keep the temp dir.
 */
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {runParako} from '../test/fixtures/cli.js';
import {createTestTrustRoot} from '../test/fixtures/sigstore.js';
import {makeWorld} from '../test/fixtures/world.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const VENDOR = 'https://github.com/parako-demo/app/.github/workflows/release.yml@refs/tags/v';
const MALLORY = 'https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v';

const keep = process.argv.includes('--keep');
const sigstore = await createTestTrustRoot();
let signer = VENDOR;
const world = await makeWorld({
  app: 'parako-demo',
  sign: async (artifact) => {
    const bundle = await sigstore.signKeyless(artifact, {identity: signer, issuer: ISSUER});
    await writeFile(`${artifact}.sigstore.json`, JSON.stringify(bundle, null, 2));
    return `${artifact}.sigstore.json`;
  },
});
const trustedRoot = join(world.root, 'trusted_root.json');
await writeFile(trustedRoot, JSON.stringify(sigstore.trustedRootJson, null, 2));

let failures = 0;
async function parako(args: string[], expect = 0): Promise<void> {
  process.stdout.write(`\n$ parako ${args.join(' ')}\n`);
  const result = await runParako([...args, '--dir', world.dir]);
  const output = (result.stdout + result.stderr).trimEnd();
  if (output !== '') process.stdout.write(output.split('\n').map((line) => `  ${line}`).join('\n') + '\n');
  process.stdout.write(`  [exit ${result.code}]\n`);
  if (result.code !== expect) {
    failures++;
    process.stdout.write(`  !! expected exit ${expect}\n`);
  }
}

try {
  console.log('parako demo');
  console.log(`  feed:        ${world.feed.indexUrl} (served by this script)`);
  console.log(`  install dir: ${world.dir}`);
  console.log(`  signer:      keyless Sigstore, a private instance made just now (${trustedRoot})`);
  await world.writeConfig({
    verify: {key: undefined, issuer: ISSUER, identityRegExp: `^${VENDOR.replaceAll('.', '\\.')}`, trustedRoot},
    keepReleases: 3,
  });
  await world.publish({version: '1.0.0', notes: 'First release.'});
  await world.publish({version: '1.1.0', notes: 'Faster start-up.', breaking: ['the /v1/legacy endpoint is removed']});

  await parako(['update', '--version', '1.0.0']);
  await parako(['releases']);
  await parako(['update', '--dry-run']);
  await parako(['update', '--yes']);
  await parako(['status']);
  await parako(['rollback']);
  await parako(['status']);

  signer = MALLORY;
  await world.publish({version: '1.2.0', notes: 'Totally legitimate.'});
  console.log('\n(v1.2.0 is now in the feed, but signed by an identity the policy does not allow)');
  await parako(['update'], 3);
  await parako(['status']);

  console.log(failures === 0 ? '\ndemo finished: every step behaved as expected' : `\ndemo finished with ${failures} unexpected exit code(s)`);
  if (keep) console.log(`kept ${world.root}`);
} finally {
  if (!keep) await world.cleanup();
  await sigstore.close();
}
process.exitCode = failures === 0 ? 0 : 1;
