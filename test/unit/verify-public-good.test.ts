/**
 * Real bundles from the Sigstore public-good instance (sigstore-conformance cases), verified
 * offline against the trusted root shipped with them: what parako accepts and refuses must be
 * what cosign accepts and refuses on real data, not only on our own mock instance.
 */
import {existsSync} from 'node:fs';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {describe, expect, it} from 'vitest';

import type {VerifyPolicy} from '../../src/core/config.js';
import {VerificationError} from '../../src/core/errors.js';
import {verifyArtifact} from '../../src/core/verify.js';
import {generateTestKeyPair} from '../fixtures/sigstore.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');
const fixtures = resolve(repoRoot, '../shared/fixtures/sigstore-public-good');
const present = existsSync(join(fixtures, 'trusted_root.json'));
// On a developer machine without the shared fixtures the tests skip; under CI they must be there.
const skip = !present && process.env.CI !== 'true';
const skipReason = skip ? ` (skipped: ${fixtures} not found)` : '';

const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const trustedRoot = join(fixtures, 'trusted_root.json');
const keyless: VerifyPolicy = {issuer: ISSUER, identity: IDENTITY, trustedRoot};

function verifyCase(name: string, policy: VerifyPolicy, artifact = join(fixtures, 'a.txt')) {
  return verifyArtifact({artifactPath: artifact, bundlePath: join(fixtures, name, 'bundle.sigstore.json'), policy});
}

async function expectRefused(verification: Promise<unknown>, check: RegExp): Promise<void> {
  const error = await verification.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error, 'verification should have failed').toBeInstanceOf(VerificationError);
  expect((error as VerificationError).message).toMatch(check);
}

describe(`public-good Sigstore bundles${skipReason}`, () => {
  it.skipIf(skip)(`finds the shared fixtures at ${fixtures}`, () => {
    expect(present, `${fixtures} is missing; CI must provide it`).toBe(true);
  });

  it.skipIf(!present)('accepts happy-path-v0.2 (keyless, certificate chain)', async () => {
    await expect(verifyCase('happy-path-v0.2', keyless)).resolves.toMatchObject({
      sha256: 'a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf',
      signer: IDENTITY,
      issuer: ISSUER,
    });
  });

  it.skipIf(!present)('accepts happy-path-v0.3 (keyless, single certificate)', async () => {
    await expect(verifyCase('happy-path-v0.3', keyless)).resolves.toMatchObject({signer: IDENTITY, issuer: ISSUER, tlogIndex: expect.stringMatching(/^\d+$/)});
  });

  it.skipIf(!present)('accepts happy-path-v0.3 with an anchored identityRegExp', async () => {
    const policy: VerifyPolicy = {issuer: ISSUER, identityRegExp: '^https://github\\.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/', trustedRoot};
    await expect(verifyCase('happy-path-v0.3', policy)).resolves.toMatchObject({signer: IDENTITY});
  });

  it.skipIf(!present)('accepts managed-key-happy-path with its key.pub (log entry and TSA timestamp checked)', async () => {
    const policy: VerifyPolicy = {key: join(fixtures, 'managed-key-happy-path', 'key.pub'), trustedRoot};
    const result = await verifyCase('managed-key-happy-path', policy);
    expect(result.signer).toMatch(/^key SHA256:/);
    expect(result.tlogIndex).toMatch(/^\d+$/);
  });

  it.skipIf(!present)('refuses message-digest-mismatch_fail', async () => {
    await expectRefused(verifyCase('message-digest-mismatch_fail', keyless), /messageDigest: .* does not match/);
  });

  it.skipIf(!present)('refuses signature-mismatch_fail', async () => {
    await expectRefused(verifyCase('signature-mismatch_fail', keyless), /transparency log: .*signature mismatch|signature: /);
  });

  it.skipIf(!present)('refuses wrong-material_fail (a valid bundle for another artifact)', async () => {
    await expectRefused(verifyCase('wrong-material_fail', keyless, join(fixtures, 'wrong-material_fail', 'artifact')), /messageDigest: .* does not match/);
  });

  it.skipIf(!present)('refuses a real bundle under another identity or issuer', async () => {
    await expectRefused(verifyCase('happy-path-v0.3', {...keyless, identity: `${IDENTITY}x`}), /certificate identity ".*" does not match the allowed/);
    await expectRefused(verifyCase('happy-path-v0.3', {...keyless, issuer: 'https://accounts.google.com'}), /certificate issuer: expected "https:\/\/accounts\.google\.com", found "https:\/\/token\.actions\.githubusercontent\.com"/);
  });

  it.skipIf(!present)('refuses the managed-key bundle with another key, whatever its key hint says', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parako-pg-'));
    try {
      const otherKey = join(dir, 'other.pub');
      await writeFile(otherKey, generateTestKeyPair().publicKeyPem);
      await expectRefused(verifyCase('managed-key-happy-path', {key: otherKey, trustedRoot}), /signature: .* does not verify with the configured key/);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
