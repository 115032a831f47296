import {createHash, randomBytes} from 'node:crypto';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import type {VerifyPolicy} from '../../src/core/config.js';
import {ConfigError, VerificationError} from '../../src/core/errors.js';
import {identityPattern, verifyArtifact, type VerifyInput} from '../../src/core/verify.js';
import {createTestTrustRoot, generateTestKeyPair, type SerializedBundle, type TestSigstore} from '../fixtures/sigstore.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.4.0';

let sigstore: TestSigstore;
let otherSigstore: TestSigstore;
let dir: string;
let artifact: string;
let otherArtifact: string;
let trustedRoot: string;
let keyPath: string;
let keyless: VerifyPolicy;
let keyBased: VerifyPolicy;
let bundleCount = 0;

beforeAll(async () => {
  [sigstore, otherSigstore] = await Promise.all([createTestTrustRoot(), createTestTrustRoot()]);
  dir = await mkdtemp(join(tmpdir(), 'parako-verify-'));
  // Larger than one read chunk, so the streamed digest and signature see several chunks.
  artifact = join(dir, 'app-v1.4.0.tar.gz');
  await writeFile(artifact, randomBytes(300 * 1024));
  otherArtifact = join(dir, 'app-v1.3.0.tar.gz');
  await writeFile(otherArtifact, randomBytes(1024));
  trustedRoot = join(dir, 'trusted_root.json');
  await writeFile(trustedRoot, JSON.stringify(sigstore.trustedRootJson));
  keyPath = join(dir, 'cosign.pub');
  await writeFile(keyPath, sigstore.publicKeyPem);
  keyless = {issuer: ISSUER, identity: IDENTITY, trustedRoot};
  keyBased = {key: keyPath, trustedRoot};
});

afterAll(async () => {
  await Promise.all([sigstore?.close(), otherSigstore?.close()]);
  if (dir) await rm(dir, {recursive: true, force: true});
});

async function writeBundle(bundle: SerializedBundle | string): Promise<string> {
  const file = join(dir, `bundle-${++bundleCount}.sigstore.json`);
  await writeFile(file, typeof bundle === 'string' ? bundle : JSON.stringify(bundle));
  return file;
}

async function verify(bundle: SerializedBundle | string, policy: VerifyPolicy, overrides: Partial<VerifyInput> = {}) {
  return verifyArtifact({artifactPath: artifact, bundlePath: await writeBundle(bundle), policy, ...overrides});
}

/** The verification must fail with a VerificationError whose message names the failed check. */
async function expectRefused(verification: Promise<unknown>, check: RegExp): Promise<void> {
  const error = await verification.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error, 'verification should have failed').toBeInstanceOf(VerificationError);
  expect((error as VerificationError).message).toMatch(check);
  expect((error as VerificationError).code).toBe(3);
}

function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function signKeyless(identity = IDENTITY, issuer = ISSUER): Promise<SerializedBundle> {
  return sigstore.signKeyless(artifact, {identity, issuer});
}

/** Re-encodes a log entry body after `edit`, as an attacker rewriting the bundle would. */
function editLogBody(bundle: SerializedBundle, edit: (body: {spec: {data: {hash: {value: string}}}}) => void): SerializedBundle {
  const entry = bundle.verificationMaterial.tlogEntries[0]!;
  const body = JSON.parse(Buffer.from(entry.canonicalizedBody, 'base64').toString('utf8'));
  edit(body);
  entry.canonicalizedBody = Buffer.from(JSON.stringify(body)).toString('base64');
  return bundle;
}

describe('verifyArtifact: accepted', () => {
  it('accepts a keyless bundle from the allowed identity and issuer, and says who signed', async () => {
    const result = await verify(await signKeyless(), keyless);
    expect(result).toEqual({
      sha256: sha256Of(await readFile(artifact)),
      signer: IDENTITY,
      issuer: ISSUER,
      tlogIndex: expect.stringMatching(/^\d+$/),
    });
  });

  it('accepts a v0.3 bundle (single certificate, as cosign makes)', async () => {
    const bundle = await sigstore.signKeyless(artifact, {identity: IDENTITY, issuer: ISSUER, bundleVersion: '0.3'});
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    await expect(verify(bundle, keyless)).resolves.toMatchObject({signer: IDENTITY});
  });

  it('accepts an identity that starts with what identityRegExp matches, its end unanchored like cosign --certificate-identity-regexp', async () => {
    const policy: VerifyPolicy = {issuer: ISSUER, identityRegExp: '^https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v', trustedRoot};
    await expect(verify(await signKeyless(), policy)).resolves.toMatchObject({signer: IDENTITY});
    const alternatives: VerifyPolicy = {issuer: ISSUER, identityRegExp: '^(?:https://github\\.com/acme/other/|https://github\\.com/acme/app/)', trustedRoot};
    await expect(verify(await signKeyless(), alternatives)).resolves.toMatchObject({signer: IDENTITY});
  });

  it.each([
    ['an alternative not anchored with ^ (^A|B) that matches in the middle of the identity', '^https://github\\.com/acme/other/|acme/app/'],
    ['no ^ at all', 'acme/app/'],
  ])('refuses an identityRegExp with %s before checking any signature', async (_case, identityRegExp) => {
    const verification = verify(await signKeyless(), {issuer: ISSUER, identityRegExp, trustedRoot});
    await expect(verification).rejects.toBeInstanceOf(ConfigError);
    await expect(verification).rejects.toThrow(/verify\.identityRegExp: .*not anchored with \^/);
  });

  it('accepts a key-signed bundle with the configured key, with or without a log entry', async () => {
    const withoutLog = await verify(await sigstore.signWithKey(artifact), {key: keyPath});
    expect(withoutLog.signer).toBe(`key SHA256:${sigstore.keyPair.hint}`);
    expect(withoutLog.tlogIndex).toBeUndefined();
    const withLog = await verify(await sigstore.signWithKey(artifact, {tlog: true}), keyBased);
    expect(withLog.tlogIndex).toMatch(/^\d+$/);
  });

  it('accepts the digest from the release index when it is the artifact digest', async () => {
    const expectedSha256 = sha256Of(await readFile(artifact));
    await expect(verify(await signKeyless(), keyless, {expectedSha256})).resolves.toMatchObject({sha256: expectedSha256});
  });

  it('resolves relative key and trusted root paths against baseDir', async () => {
    const result = await verify(await sigstore.signWithKey(artifact, {tlog: true}), {key: 'cosign.pub', trustedRoot: 'trusted_root.json'}, {baseDir: dir});
    expect(result.signer).toMatch(/^key SHA256:/);
  });
});

describe('verifyArtifact: the artifact must be the signed one', () => {
  it('refuses a tampered artifact', async () => {
    const bundle = await signKeyless();
    const tampered = join(dir, 'tampered.tar.gz');
    const bytes = await readFile(artifact);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0x01, bytes.length - 1);
    await writeFile(tampered, bytes);
    await expectRefused(verify(bundle, keyless, {artifactPath: tampered}), /messageDigest: the artifact's sha256 [0-9a-f]{64} does not match the [0-9a-f]{64} signed in the bundle/);
  });

  it('refuses the bundle of another artifact', async () => {
    const bundle = await sigstore.signKeyless(otherArtifact, {identity: IDENTITY, issuer: ISSUER});
    await expectRefused(verify(bundle, keyless), /messageDigest: .* does not match/);
  });

  it('refuses an artifact whose digest differs from the release index', async () => {
    const expectedSha256 = 'ab'.repeat(32);
    await expectRefused(verify(await signKeyless(), keyless, {expectedSha256}), new RegExp(`sha256 [0-9a-f]{64} does not match the sha256 ${expectedSha256} listed in the release index`));
  });

  it('refuses a forged messageDigest: the log entry still names the real digest', async () => {
    const bundle = await signKeyless();
    const forged = await readFile(otherArtifact);
    bundle.messageSignature!.messageDigest!.digest = createHash('sha256').update(forged).digest('base64');
    await expectRefused(verify(bundle, keyless, {artifactPath: otherArtifact}), /transparency log: .*digest mismatch/);
  });

  it('refuses a forged messageDigest without a log entry: the signature over the real bytes fails', async () => {
    const bundle = await sigstore.signWithKey(artifact);
    bundle.messageSignature!.messageDigest!.digest = createHash('sha256').update(await readFile(otherArtifact)).digest('base64');
    await expectRefused(verify(bundle, {key: keyPath}, {artifactPath: otherArtifact}), /signature: the bundle's signature over the artifact does not verify with the configured key/);
  });
});

describe('verifyArtifact: the signer must be the allowed one', () => {
  it('refuses another identity', async () => {
    const bundle = await signKeyless('https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1.4.0');
    await expectRefused(
      verify(bundle, keyless),
      /certificate identity "https:\/\/github\.com\/mallory\/app\/.*" does not match the allowed "https:\/\/github\.com\/acme\/app\//,
    );
  });

  it.each([
    ['the allowed one with a suffix', `${IDENTITY}-rc1`],
    ['the allowed one inside a longer URL', `https://evil.example/?${IDENTITY}`],
    ['a prefix of the allowed one', IDENTITY.slice(0, -2)],
    ['a substring of the allowed one', 'https://github.com/acme/app'],
    ['the allowed one with its dots replaced', IDENTITY.replaceAll('.', 'x')],
  ])('refuses an identity that is %s', async (_case, identity) => {
    await expectRefused(verify(await signKeyless(identity), keyless), /certificate identity ".*" does not match the allowed/);
  });

  it('refuses an identity that does not match identityRegExp', async () => {
    const policy: VerifyPolicy = {issuer: ISSUER, identityRegExp: '^https://github\\.com/acme/other/', trustedRoot};
    await expectRefused(verify(await signKeyless(), policy), /certificate identity ".*" does not match the allowed pattern "\^https:\/\/github\\\.com\/acme\/other\/"/);
  });

  it('refuses another issuer', async () => {
    const bundle = await signKeyless(IDENTITY, 'https://accounts.google.com');
    await expectRefused(verify(bundle, keyless), /certificate issuer: expected "https:\/\/token\.actions\.githubusercontent\.com", found "https:\/\/accounts\.google\.com"/);
  });

  it('refuses a certificate from a CA the trusted root does not hold', async () => {
    const bundle = await otherSigstore.signKeyless(artifact, {identity: IDENTITY, issuer: ISSUER});
    await expectRefused(verify(bundle, keyless), /certificate chain: the signing certificate does not chain to a Fulcio CA of the trusted root/);
  });

  it('refuses a key-signed bundle made with another key', async () => {
    const mallory = generateTestKeyPair();
    await expectRefused(verify(await sigstore.signWithKey(artifact, {key: mallory}), {key: keyPath}), /signature: .* does not verify with the configured key/);
  });

  it('never lets the bundle key hint select the key: a hint naming the configured key does not help', async () => {
    const mallory = generateTestKeyPair();
    const bundle = await sigstore.signWithKey(artifact, {key: mallory, hint: sigstore.keyPair.hint});
    await expectRefused(verify(bundle, {key: keyPath}), /signature: .* does not verify with the configured key/);
  });

  it('refuses a key-signed bundle under a keyless policy, and a certificate under a key policy', async () => {
    await expectRefused(verify(await sigstore.signWithKey(artifact, {tlog: true}), keyless), /signing certificate: the bundle is signed with a plain key/);
    await expectRefused(verify(await signKeyless(), keyBased), /signing key: the bundle carries a signing certificate, but verify\.key is configured/);
  });
});

describe('verifyArtifact: the transparency log', () => {
  it('refuses a keyless bundle whose log entry was stripped', async () => {
    const bundle = await signKeyless();
    bundle.verificationMaterial.tlogEntries = [];
    await expectRefused(verify(bundle, keyless), /transparency log: the bundle has no transparency-log entry/);
  });

  it('refuses a key-signed bundle without a log entry when requireTlog is set', async () => {
    await expectRefused(verify(await sigstore.signWithKey(artifact), {...keyBased, requireTlog: true}), /transparency log: the bundle has no transparency-log entry/);
  });

  it('refuses a log entry whose body was altered', async () => {
    const bundle = editLogBody(await signKeyless(), (body) => {
      body.spec.data.hash.value = 'ab'.repeat(32);
    });
    await expectRefused(verify(bundle, keyless), /transparency log: .*inclusion promise could not be verified|transparency log: .*root hash/);
  });

  it('refuses a log entry whose integrated time was altered', async () => {
    const bundle = await signKeyless();
    const entry = bundle.verificationMaterial.tlogEntries[0]!;
    entry.integratedTime = String(Number(entry.integratedTime) + 1);
    await expectRefused(verify(bundle, keyless), /transparency log: .*inclusion promise could not be verified/);
  });

  it('refuses a genuine log entry that belongs to another signature', async () => {
    const bundle = await signKeyless();
    const other = await sigstore.signKeyless(artifact, {identity: IDENTITY, issuer: ISSUER});
    bundle.verificationMaterial.tlogEntries = other.verificationMaterial.tlogEntries;
    await expectRefused(verify(bundle, keyless), /transparency log: .*signature mismatch/);
  });

  it('refuses a log entry that names another key than the one that signed', async () => {
    const bundle = await sigstore.signWithKey(artifact, {tlog: true, logAs: generateTestKeyPair()});
    await expectRefused(verify(bundle, keyBased), /transparency log: entry \d+ does not name the key or certificate that signed the bundle/);
  });

  it('refuses a key-signed bundle whose log entry comes from a log the trusted root does not hold', async () => {
    const bundle = await otherSigstore.signWithKey(artifact, {tlog: true, key: sigstore.keyPair});
    await expectRefused(verify(bundle, keyBased), /transparency log: .*does not verify against the logs of the trusted root/);
  });
});

describe('verifyArtifact: the bundle must be a Sigstore messageSignature bundle', () => {
  it('refuses a DSSE bundle, which is not bound to the artifact', async () => {
    const bundle = await sigstore.signDsseKeyless(artifact, {identity: IDENTITY, issuer: ISSUER});
    await expectRefused(verify(bundle, keyless), /holds a DSSE envelope \(an attestation\), not a signature over the artifact/);
  });

  it('refuses malformed JSON', async () => {
    await expectRefused(verify('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",', keyless), /is not valid JSON/);
  });

  it('refuses JSON that is not an object', async () => {
    await expectRefused(verify('["a bundle"]', keyless), /is not a Sigstore bundle: expected a JSON object/);
  });

  it('refuses an unknown media type', async () => {
    const bundle = await signKeyless();
    bundle.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=9.9';
    await expectRefused(verify(bundle, keyless), /has unknown media type "application\/vnd\.dev\.sigstore\.bundle\+json;version=9\.9"/);
  });

  it('refuses a bundle without messageSignature', async () => {
    const {messageSignature: _dropped, ...bundle} = await signKeyless();
    await expectRefused(verify(JSON.stringify(bundle), keyless), /has no messageSignature/);
  });

  it('refuses a bundle with missing required fields', async () => {
    const bundle = await signKeyless();
    bundle.messageSignature!.signature = '';
    await expectRefused(verify(bundle, keyless), /is not a valid Sigstore bundle: missing or empty content\.messageSignature\.signature/);
  });

  it('refuses a bundle larger than 1 MiB without reading it all', async () => {
    await expectRefused(verify(' '.repeat(1024 * 1024 + 1), keyless), /larger than 1048576 bytes/);
  });

  it('refuses a missing bundle file', async () => {
    await expectRefused(verifyArtifact({artifactPath: artifact, bundlePath: join(dir, 'absent.json'), policy: keyless}), /signature bundle: cannot read .*absent\.json/);
  });
});

describe('trust material', () => {
  it('says how to pin a trusted root when the public-good root cannot be fetched', async () => {
    const bundle = await signKeyless();
    const verification = verify(bundle, {issuer: ISSUER, identity: IDENTITY}, {tuf: {cacheDir: join(dir, 'tuf'), mirrorURL: 'http://127.0.0.1:9/'}});
    await expectRefused(verification, /trusted root: could not get the Sigstore public-good trusted root through TUF .*pin a trusted_root\.json with "verify\.trustedRoot"/);
  });

  it('needs no trusted root for a key-signed bundle without a log entry (air-gapped key-based hosts)', async () => {
    const bundle = await sigstore.signWithKey(artifact);
    // An unusable TUF mirror proves nothing was fetched.
    await expect(verify(bundle, {key: keyPath}, {tuf: {cacheDir: join(dir, 'tuf-unused'), mirrorURL: 'http://127.0.0.1:9/'}})).resolves.toMatchObject({signer: /^key /});
  });

  it('reports an unreadable key file as a config error', async () => {
    const verification = verify(await sigstore.signWithKey(artifact), {key: join(dir, 'missing.pub')});
    await expect(verification).rejects.toBeInstanceOf(ConfigError);
    await expect(verification).rejects.toThrow(/verify\.key: cannot read/);
  });

  it('reports a file that is not a trusted root as a config error', async () => {
    const notARoot = join(dir, 'not-a-root.json');
    await writeFile(notARoot, JSON.stringify({mediaType: 'application/json'}));
    await expect(verify(await signKeyless(), {...keyless, trustedRoot: notARoot})).rejects.toThrow(ConfigError);
  });
});

describe('identityPattern', () => {
  it('anchors and escapes an exact identity', () => {
    const pattern = identityPattern({identity: 'https://github.com/a/b/.github/workflows/r.yml@refs/tags/v1.0.0'});
    expect(pattern).toBe('^https://github\\.com/a/b/\\.github/workflows/r\\.yml@refs/tags/v1\\.0\\.0$');
    expect(new RegExp(pattern).test('https://github.com/a/b/.github/workflows/r.yml@refs/tags/v1.0.0')).toBe(true);
    expect(new RegExp(pattern).test('https://github.com/a/b/.github/workflows/r.yml@refs/tags/v1.0.0.1')).toBe(false);
    expect(new RegExp(pattern).test('https://githubXcom/a/b/.github/workflows/r.yml@refs/tags/v1.0.0')).toBe(false);
  });

  it('passes an identityRegExp anchored in every alternative as written, and refuses one that is not', () => {
    expect(identityPattern({identityRegExp: '^https://a/|^https://b/'})).toBe('^https://a/|^https://b/');
    expect(() => identityPattern({identityRegExp: '^https://a/|https://b/'})).toThrow(/the alternative "https:\/\/b\/" is not anchored with \^/);
  });
});
