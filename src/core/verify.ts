/**
 * The Sigstore gate of architecture.md §3 step 4: an artifact is installed only if its bundle verifies
 * against the host's `verify` policy, with the same outcome as
 * `cosign verify-blob --bundle B --certificate-identity[-regexp] I --certificate-oidc-issuer S`
 * (keyless) or `cosign verify-blob --bundle B --key K` (key-based).
 *
 * @sigstore/verify's Verifier does the Sigstore checks (trusted time, certificate chain to the
 * Fulcio CA, SCT, transparency-log inclusion, signer identity). It wants the artifact in memory
 * to check the signature; artifacts may be gigabytes, so instead the bytes are fed once, as a
 * stream, into SHA-256 and a node:crypto Verify (an ArtifactPass: by the download as they
 * arrive, or from the file), and the Verifier is handed a signature check that finishes that
 * streamed Verify with the key the Verifier itself authenticated.
 */
import {createHash, createPublicKey, createVerify, type Hash, type KeyObject, type Verify} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {homedir} from 'node:os';
import {join, resolve} from 'node:path';

import {
  BUNDLE_V01_MEDIA_TYPE,
  BUNDLE_V02_MEDIA_TYPE,
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  ValidationError,
  bundleFromJSON,
  isBundleWithMessageSignature,
  type Bundle,
  type BundleWithMessageSignature,
  type TransparencyLogEntry,
} from '@sigstore/bundle';
import type {X509Certificate} from '@sigstore/core';
import {HashAlgorithm, TrustedRoot} from '@sigstore/protobuf-specs';
import {
  PolicyError,
  VerificationError as SigstoreVerificationError,
  Verifier,
  toSignedEntity,
  toTrustMaterial,
  type KeyFinderFunc,
  type SignedEntity,
  type Signer,
  type TrustMaterial,
  type VerificationPolicy,
} from '@sigstore/verify';

import {identityRegExpFlaw, type VerifyPolicy} from './config.js';
import {ConfigError, VerificationError, type ParakoError} from './errors.js';

export interface VerifyInput {
  /** The downloaded artifact; read once, as a stream, unless `streamed` was fed its bytes. */
  artifactPath: string;
  /** The Sigstore bundle (JSON, at most 1 MiB). */
  bundlePath: string;
  policy: VerifyPolicy;
  /** Hex SHA-256 from the (untrusted) release index; when given, the artifact must have it. */
  expectedSha256?: string;
  /** Relative `policy.key` / `policy.trustedRoot` paths resolve against this (the install dir). */
  baseDir?: string;
  /** Where the public-good trusted root is fetched from when the policy pins none. */
  tuf?: TufOptions;
  /** Fed every byte of `artifactPath` as it was downloaded into it; then the file is not read again. */
  streamed?: ArtifactPass;
}

export interface VerifiedArtifact {
  sha256: string;
  /** The certificate identity (SAN) for keyless, `key SHA256:<base64>` for key-based. */
  signer: string;
  issuer?: string;
  /** Log index of the first transparency-log entry, when the bundle has one. */
  tlogIndex?: string;
}

export interface TufOptions {
  /** Default: env PARAKO_TUF_CACHE, else /var/cache/parako/tuf as root, else ~/.cache/parako/tuf. */
  cacheDir?: string;
  mirrorURL?: string;
}

export interface TrustOptions {
  baseDir?: string;
  tuf?: TufOptions;
  /**
   * Load only the configured key. A key-based bundle with no log entry and no timestamp has
   * nothing to check against a trusted root, and an air-gapped host then needs no TUF fetch.
   */
  keyOnly?: boolean;
}

export interface ConfiguredKey {
  path: string;
  publicKey: KeyObject;
  /** `SHA256:` + base64 of the SHA-256 of the DER public key (cosign's key hint). */
  fingerprint: string;
}

export interface LoadedTrust {
  material: TrustMaterial;
  /** Where the trusted root came from, for messages: a file path, TUF, or none. */
  rootSource: string;
  key?: ConfiguredKey;
}

const MAX_BUNDLE_BYTES = 1024 * 1024;
const MAX_TRUSTED_ROOT_BYTES = 16 * 1024 * 1024;
const KNOWN_BUNDLE_MEDIA_TYPES = [BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE];
const TRUSTED_ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\+json;version=0\.\d+|\.v0\.\d+\+json)$/;
const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const HASH_NAMES: Partial<Record<HashAlgorithm, string>> = {
  // sigstore-js reads an unspecified algorithm as SHA-256; so do we, to accept what it accepts.
  [HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED]: 'sha256',
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};

export async function verifyArtifact(input: VerifyInput): Promise<VerifiedArtifact> {
  const bundle = await readBundle(input.bundlePath);
  checkBundleMatchesPolicy(bundle, input.policy);
  const trust = await loadTrustMaterial(input.policy, {baseDir: input.baseDir, tuf: input.tuf, keyOnly: !needsTrustedRoot(bundle, input.policy)});
  // A pass fed by the download stands for the file only if it hashed what this bundle declares.
  const fed = input.streamed?.result();
  const streamed = fed !== undefined && fed.digestAlgorithm === digestAlgorithmOf(bundle) ? fed : await readArtifact(input.artifactPath, bundle);
  checkDigests(streamed, bundle, input.expectedSha256);
  const signer = verifyBundle(bundle, streamed, trust, input.policy);
  return describeSigner(signer, streamed, bundle, trust);
}

/** Reads and validates a bundle; only a messageSignature bundle can be bound to the artifact. */
export async function readBundle(bundlePath: string): Promise<BundleWithMessageSignature> {
  const text = await readCapped(bundlePath, MAX_BUNDLE_BYTES, (message, cause) => new VerificationError(`signature bundle: ${message}`, {cause}));
  return parseBundle(text, bundlePath);
}

export function parseBundle(text: string, source: string): BundleWithMessageSignature {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new VerificationError(`signature bundle ${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new VerificationError(`signature bundle ${source} is not a Sigstore bundle: expected a JSON object`);
  }
  const mediaType: unknown = 'mediaType' in raw ? raw.mediaType : undefined;
  if (typeof mediaType !== 'string' || !KNOWN_BUNDLE_MEDIA_TYPES.includes(mediaType)) {
    throw new VerificationError(
      `signature bundle ${source} has unknown media type ${JSON.stringify(mediaType ?? null)}; expected one of ${KNOWN_BUNDLE_MEDIA_TYPES.join(', ')}`,
    );
  }
  if ('dsseEnvelope' in raw) {
    // A DSSE signature covers the envelope's payload, not the file: nothing ties it to the artifact.
    throw new VerificationError(
      `signature bundle ${source} holds a DSSE envelope (an attestation), not a signature over the artifact; ` +
        'parako accepts only messageSignature bundles, as made by "cosign sign-blob --bundle"',
    );
  }
  if (!('messageSignature' in raw)) {
    throw new VerificationError(`signature bundle ${source} has no messageSignature: it does not sign any artifact`);
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(raw);
  } catch (error) {
    const detail = error instanceof ValidationError ? `missing or empty ${error.fields.join(', ')}` : (error as Error).message;
    throw new VerificationError(`signature bundle ${source} is not a valid Sigstore bundle: ${detail}`);
  }
  if (!isBundleWithMessageSignature(bundle)) {
    throw new VerificationError(`signature bundle ${source} has no messageSignature: it does not sign any artifact`);
  }
  return bundle;
}

/**
 * The trust the policy names: the trusted root (pinned file, or the public-good root through
 * TUF) and, for a key-based policy, the configured key, which is the only key accepted
 * whatever hint a bundle carries.
 */
export async function loadTrustMaterial(policy: VerifyPolicy, options: TrustOptions = {}): Promise<LoadedTrust> {
  const baseDir = options.baseDir ?? process.cwd();
  const key = 'key' in policy ? await loadConfiguredKey(resolve(baseDir, policy.key)) : undefined;
  let root: TrustedRoot;
  let rootSource: string;
  if (options.keyOnly === true && key !== undefined) {
    root = {mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: []};
    rootSource = 'none (key only)';
  } else if (policy.trustedRoot !== undefined) {
    rootSource = resolve(baseDir, policy.trustedRoot);
    root = await loadTrustedRootFile(rootSource);
  } else {
    ({root, source: rootSource} = await fetchPublicGoodRoot(options.tuf));
  }
  const keyFinder: KeyFinderFunc | undefined =
    key === undefined ? undefined : () => ({publicKey: key.publicKey, validFor: () => true});
  return {material: toTrustMaterial(root, keyFinder), rootSource, key};
}

export function defaultTufCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PARAKO_TUF_CACHE) return env.PARAKO_TUF_CACHE;
  return process.getuid?.() === 0 ? '/var/cache/parako/tuf' : join(homedir(), '.cache', 'parako', 'tuf');
}

/**
 * The SAN pattern handed to @sigstore/verify, which matches it as an unanchored RegExp. An exact
 * `identity` is escaped and anchored, so a look-alike that merely contains it is refused.
 * `identityRegExp` is passed as written, like cosign's --certificate-identity-regexp (Go's
 * unanchored MatchString), once it is anchored with ^ in every alternative (identityRegExpFlaw;
 * the config and the verify flags refuse it sooner, this is for any other caller).
 */
export function identityPattern(policy: {identity?: string; identityRegExp?: string}): string {
  if (policy.identity !== undefined) return `^${policy.identity.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  if (policy.identityRegExp !== undefined) {
    const flaw = identityRegExpFlaw(policy.identityRegExp);
    if (flaw !== undefined) throw new ConfigError(`verify.identityRegExp: ${flaw}`);
    return policy.identityRegExp;
  }
  throw new ConfigError('verify: keyless verification needs "identity" or "identityRegExp" next to "issuer"');
}

// ---------------------------------------------------------------------------------------------

interface StreamedArtifact {
  sha256: string;
  /** The digest in the algorithm the bundle declares (usually the SHA-256 again). */
  digest: Buffer;
  digestAlgorithm: string;
  /** A Verify fed with every byte of the artifact, waiting for the authenticated key. */
  signature: Verify;
}

/**
 * Every digest the checks need, fed the artifact's bytes once, in order: the SHA-256 the index
 * lists, the bundle's messageDigest, and the signature's Verify. The download feeds one as the
 * bytes arrive (`artifactPassFor`), so the verify phase need not read the artifact again;
 * `parako verify` feeds one from the file.
 */
export class ArtifactPass {
  private readonly sha256 = createHash('sha256');
  private readonly bundleDigest: Hash | undefined;
  private readonly signature: Verify;
  private finished: StreamedArtifact | undefined;

  constructor(readonly digestAlgorithm: string) {
    this.bundleDigest = digestAlgorithm === 'sha256' ? undefined : createHash(digestAlgorithm);
    this.signature = createVerify(digestAlgorithm);
  }

  update(chunk: Buffer): void {
    this.sha256.update(chunk);
    this.bundleDigest?.update(chunk);
    this.signature.update(chunk);
  }

  /** Hex SHA-256 of every byte fed; the pass is finished after this. */
  sha256Hex(): string {
    return this.result().sha256;
  }

  result(): StreamedArtifact {
    if (this.finished === undefined) {
      const sha256Digest = this.sha256.digest();
      this.finished = {sha256: sha256Digest.toString('hex'), digest: this.bundleDigest?.digest() ?? sha256Digest, digestAlgorithm: this.digestAlgorithm, signature: this.signature};
    }
    return this.finished;
  }
}

/** The pass a bundle calls for, read from its file; undefined when the bundle is unusable (verify says why). */
export async function artifactPassFor(bundlePath: string): Promise<ArtifactPass | undefined> {
  try {
    return new ArtifactPass(digestAlgorithmOf(await readBundle(bundlePath)));
  } catch {
    return undefined;
  }
}

function digestAlgorithmOf(bundle: BundleWithMessageSignature): string {
  const declared = bundle.content.messageSignature.messageDigest?.algorithm ?? HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED;
  const digestAlgorithm = HASH_NAMES[declared];
  if (digestAlgorithm === undefined) {
    throw new VerificationError(`messageDigest: unsupported digest algorithm ${HashAlgorithm[declared] ?? declared} in the bundle (SHA2_256, SHA2_384 or SHA2_512 expected)`);
  }
  return digestAlgorithm;
}

/** One streamed pass over the artifact feeds every check that needs its bytes. */
async function readArtifact(artifactPath: string, bundle: BundleWithMessageSignature): Promise<StreamedArtifact> {
  const pass = new ArtifactPass(digestAlgorithmOf(bundle));
  try {
    for await (const chunk of createReadStream(artifactPath, {highWaterMark: 1024 * 1024})) pass.update(chunk as Buffer);
  } catch (error) {
    throw new VerificationError(`cannot read the artifact ${artifactPath}: ${(error as Error).message}`, {cause: error});
  }
  return pass.result();
}

/** The index's digest and the bundle's messageDigest must both describe the bytes on disk. */
function checkDigests(artifact: StreamedArtifact, bundle: BundleWithMessageSignature, expectedSha256: string | undefined): void {
  if (expectedSha256 !== undefined && expectedSha256.toLowerCase() !== artifact.sha256) {
    throw new VerificationError(
      `artifact sha256 ${artifact.sha256} does not match the sha256 ${expectedSha256} listed in the release index (the download is corrupt or was replaced)`,
    );
  }
  const signed = Buffer.from(bundle.content.messageSignature.messageDigest?.digest ?? Buffer.alloc(0));
  if (!signed.equals(artifact.digest)) {
    throw new VerificationError(
      `messageDigest: the artifact's ${artifact.digestAlgorithm} ${artifact.digest.toString('hex')} does not match the ${signed.toString('hex')} ` +
        'signed in the bundle (the artifact was modified, or the bundle belongs to another file)',
    );
  }
}

/** A bundle of the wrong kind for the policy gets a plain answer instead of a key lookup error. */
function checkBundleMatchesPolicy(bundle: BundleWithMessageSignature, policy: VerifyPolicy): void {
  const material = bundle.verificationMaterial.content;
  if ('key' in policy && material.$case !== 'publicKey') {
    throw new VerificationError(
      `signing key: the bundle carries a signing certificate, but verify.key is configured; expected a bundle signed with the key ${policy.key}`,
    );
  }
  if ('issuer' in policy && material.$case === 'publicKey') {
    throw new VerificationError(
      `signing certificate: the bundle is signed with a plain key (hint "${material.publicKey.hint}"), but the policy expects a Fulcio certificate from issuer ${policy.issuer}`,
    );
  }
  const required = policy.requireTlog ?? !('key' in policy);
  if (required && bundle.verificationMaterial.tlogEntries.length === 0) {
    throw new VerificationError(
      `transparency log: the bundle has no transparency-log entry, and the policy requires one (verify.requireTlog${policy.requireTlog === undefined ? ' is on by default for keyless signatures' : ''})`,
    );
  }
}

function needsTrustedRoot(bundle: BundleWithMessageSignature, policy: VerifyPolicy): boolean {
  const {tlogEntries, timestampVerificationData} = bundle.verificationMaterial;
  return !('key' in policy) || policy.requireTlog === true || tlogEntries.length > 0 || (timestampVerificationData?.rfc3161Timestamps.length ?? 0) > 0;
}

/**
 * Runs @sigstore/verify's Verifier: trusted timestamps, the signing key (certificate chain to the
 * trusted Fulcio CA and its SCT, or the configured key), every transparency-log entry (inclusion
 * proof or promise, body bound to this signature and digest), the signature, and the identity
 * policy. Its signature step is the streamed check, so it proves the signature over the real
 * bytes with the key it authenticated.
 */
function verifyBundle(bundle: BundleWithMessageSignature, artifact: StreamedArtifact, trust: LoadedTrust, policy: VerifyPolicy): Signer {
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle);
  } catch (error) {
    throw new VerificationError(`signature bundle is not usable: ${(error as Error).message}`, {cause: error});
  }
  const streamedCheck = new StreamedSignatureCheck(entity.signature, artifact.signature);
  entity = {...entity, signature: streamedCheck};

  const keyless = 'issuer' in policy;
  const verifier = new Verifier(trust.material, {
    tlogThreshold: (policy.requireTlog ?? keyless) ? 1 : 0,
    // A certificate is only valid at a trusted time (a log entry or a TSA timestamp); a plain key has no validity period.
    timestampThreshold: keyless ? 1 : 0,
    ctlogThreshold: keyless ? 1 : 0,
  });
  const verificationPolicy: VerificationPolicy | undefined = keyless
    ? {subjectAlternativeName: identityPattern(policy), extensions: {issuer: policy.issuer}}
    : undefined;

  let signer: Signer;
  try {
    // Without a policy the Verifier accepts any identity: keyless always passes one.
    signer = verificationPolicy === undefined ? verifier.verify(entity) : verifier.verify(entity, verificationPolicy);
  } catch (error) {
    throw explainFailure(error, entity, policy, trust, streamedCheck);
  }
  if (!streamedCheck.verifiedWith(signer.key)) {
    throw new VerificationError('signature: the artifact signature was not checked against the authenticated key');
  }
  if (trust.key !== undefined && !signer.key.equals(trust.key.publicKey)) {
    throw new VerificationError(`signing key: the bundle was not verified with the configured key ${trust.key.path}`);
  }
  checkTlogNamesSigner(bundle, signer.key);
  return signer;
}

type SignatureContent = SignedEntity['signature'];

/**
 * The Verifier's view of the signature: digest and signature comparisons (for the log entry) come
 * from the bundle; the signature check itself finishes the Verify fed by the streamed artifact.
 * A Verify can be finished only once, so the outcome is remembered for the key it was given.
 */
class StreamedSignatureCheck implements SignatureContent {
  private checked?: {key: KeyObject; valid: boolean};
  failure?: string;

  constructor(
    private readonly fromBundle: SignatureContent,
    private readonly streamed: Verify,
  ) {}

  get signature(): Buffer {
    return this.fromBundle.signature;
  }

  compareSignature(signature: Buffer): boolean {
    return this.fromBundle.compareSignature(signature);
  }

  compareDigest(digest: Buffer): boolean {
    return this.fromBundle.compareDigest(digest);
  }

  verifySignature(key: KeyObject): boolean {
    if (this.checked !== undefined) return this.checked.key.equals(key) && this.checked.valid;
    let valid: boolean;
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') {
      // Ed25519 signs the whole message, not a digest: it cannot be checked over a stream.
      this.failure = `${key.asymmetricKeyType ?? 'unknown'} keys are not supported for artifact signatures (ECDSA or RSA expected)`;
      valid = false;
    } else {
      try {
        valid = this.streamed.verify(key, this.fromBundle.signature);
      } catch (error) {
        this.failure = (error as Error).message;
        valid = false;
      }
    }
    this.checked = {key, valid};
    return valid;
  }

  verifiedWith(key: KeyObject): boolean {
    return this.checked !== undefined && this.checked.valid && this.checked.key.equals(key);
  }
}

/**
 * sigstore-js checks that a log entry carries this signature and digest, but not that it names
 * this signer; cosign does. A signature over a file is logged as a hashedrekord entry, and that
 * entry must name the key (or certificate) that signed.
 */
function checkTlogNamesSigner(bundle: BundleWithMessageSignature, signerKey: KeyObject): void {
  const leafDer = bundleLeafCertificate(bundle);
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    if (entry.kindVersion?.kind !== 'hashedrekord') {
      throw new VerificationError(`transparency log: entry ${entry.logIndex} is a ${entry.kindVersion?.kind ?? 'typeless'} entry; a signature over an artifact is logged as hashedrekord`);
    }
    const named = hashedRekordVerifier(entry);
    let matches = false;
    if (named?.type === 'certificate') matches = leafDer !== undefined && named.der.equals(leafDer);
    if (named?.type === 'key') matches = sameKey(named.der, signerKey);
    if (!matches) {
      throw new VerificationError(`transparency log: entry ${entry.logIndex} does not name the key or certificate that signed the bundle`);
    }
  }
}

/** Compares keys, not encodings: the log may hold the same key with its point compressed. */
function sameKey(spkiDer: Buffer, key: KeyObject): boolean {
  try {
    return createPublicKey({key: spkiDer, format: 'der', type: 'spki'}).equals(key);
  } catch {
    // Bytes that are not a public key name no signer at all.
    return false;
  }
}

function bundleLeafCertificate(bundle: BundleWithMessageSignature): Buffer | undefined {
  const material = bundle.verificationMaterial.content;
  if (material.$case === 'certificate') return Buffer.from(material.certificate.rawBytes);
  if (material.$case === 'x509CertificateChain') {
    const leaf = material.x509CertificateChain.certificates[0];
    return leaf === undefined ? undefined : Buffer.from(leaf.rawBytes);
  }
  return undefined;
}

function hashedRekordVerifier(entry: TransparencyLogEntry): {type: 'certificate' | 'key'; der: Buffer} | undefined {
  let body: unknown;
  try {
    body = JSON.parse(entry.canonicalizedBody.toString('utf8'));
  } catch {
    // The Verifier already parsed this body successfully; an unparsable one never gets here.
    return undefined;
  }
  const spec = field(body, 'spec');
  if (entry.kindVersion?.version === '0.0.1') {
    const content = field(field(field(spec, 'signature'), 'publicKey'), 'content');
    if (typeof content !== 'string') return undefined;
    const pem = Buffer.from(content, 'base64').toString('utf8');
    const base64 = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s/g, '');
    return {type: pem.includes('CERTIFICATE') ? 'certificate' : 'key', der: Buffer.from(base64, 'base64')};
  }
  const verifier = field(field(field(spec, 'hashedRekordV002'), 'signature'), 'verifier');
  const key = field(field(verifier, 'publicKey'), 'rawBytes');
  if (typeof key === 'string') return {type: 'key', der: Buffer.from(key, 'base64')};
  const certificate = field(field(verifier, 'x509Certificate'), 'rawBytes');
  if (typeof certificate === 'string') return {type: 'certificate', der: Buffer.from(certificate, 'base64')};
  return undefined;
}

function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' && name in value ? (value as Record<string, unknown>)[name] : undefined;
}

/** Turns a Verifier failure into the operator's words: which check, expected vs found. */
function explainFailure(error: unknown, entity: SignedEntity, policy: VerifyPolicy, trust: LoadedTrust, streamed: StreamedSignatureCheck): VerificationError {
  if (error instanceof PolicyError && 'issuer' in policy && entity.key.$case === 'certificate') {
    const found = certificateIdentity(entity.key.certificate);
    const pattern = identityPattern(policy);
    if (found.identity === undefined || !new RegExp(pattern).test(found.identity)) {
      const allowed = policy.identity !== undefined ? `the allowed "${policy.identity}"` : `the allowed pattern "${pattern}"`;
      return new VerificationError(`certificate identity "${found.identity ?? '(none)'}" does not match ${allowed}`, {
        cause: error,
        next: 'check verify.identity / verify.identityRegExp in parako.json against the workflow that signs releases',
      });
    }
    return new VerificationError(`certificate issuer: expected "${policy.issuer}", found "${found.issuer ?? '(none)'}"`, {
      cause: error,
      next: 'check verify.issuer in parako.json (GitHub Actions: https://token.actions.githubusercontent.com)',
    });
  }
  if (error instanceof SigstoreVerificationError) {
    const keyName = trust.key !== undefined ? `the configured key ${trust.key.path}` : "the signing certificate's key";
    switch (error.code) {
      case 'SIGNATURE_ERROR':
        return new VerificationError(
          `signature: the bundle's signature over the artifact does not verify with ${keyName}${streamed.failure ? ` (${streamed.failure})` : ''}`,
          {cause: error},
        );
      case 'CERTIFICATE_ERROR':
        return new VerificationError(
          /SCT/.test(error.message)
            ? `certificate transparency: ${error.message} (the certificate has no valid SCT from a CT log of the trusted root ${trust.rootSource})`
            : `certificate chain: the signing certificate does not chain to a Fulcio CA of the trusted root ${trust.rootSource} (${error.message})`,
          {cause: error},
        );
      case 'TIMESTAMP_ERROR':
        return new VerificationError(`timestamp: no trusted time of signing (${error.message}); the bundle needs a transparency-log entry or a TSA timestamp of the trusted root`, {cause: error});
      case 'PUBLIC_KEY_ERROR':
        return new VerificationError(`signing key: ${error.message}`, {cause: error});
      case 'TLOG_ERROR':
      case 'TLOG_BODY_ERROR':
      case 'TLOG_INCLUSION_PROOF_ERROR':
      case 'TLOG_INCLUSION_PROMISE_ERROR':
      case 'TLOG_MISSING_INCLUSION_ERROR':
        return new VerificationError(`transparency log: the bundle's log entry does not verify against the logs of the trusted root ${trust.rootSource} (${error.message})`, {cause: error});
      default:
        return new VerificationError(`signature bundle: ${error.message}`, {cause: error});
    }
  }
  // Malformed content (a log body that is not JSON, a certificate that does not parse) surfaces as plain errors.
  return new VerificationError(`signature bundle could not be verified: ${(error as Error).message}`, {cause: error});
}

function certificateIdentity(certificate: X509Certificate): {identity?: string; issuer?: string} {
  const v2 = certificate.extension(OID_FULCIO_ISSUER_V2);
  const issuer = v2 !== undefined ? v2.valueObj.subs[0]?.value.toString('utf8') ?? v2.valueObj.value.toString('utf8') : certificate.extension(OID_FULCIO_ISSUER_V1)?.value.toString('utf8');
  return {identity: certificate.subjectAltName, issuer};
}

function describeSigner(signer: Signer, artifact: StreamedArtifact, bundle: BundleWithMessageSignature, trust: LoadedTrust): VerifiedArtifact {
  const tlogIndex = bundle.verificationMaterial.tlogEntries[0]?.logIndex;
  const identity = signer.identity;
  const result: VerifiedArtifact = {
    sha256: artifact.sha256,
    signer: trust.key !== undefined ? `key ${trust.key.fingerprint}` : (identity?.subjectAlternativeName ?? '(unknown)'),
  };
  if (identity?.extensions?.issuer !== undefined) result.issuer = identity.extensions.issuer;
  if (tlogIndex !== undefined) result.tlogIndex = tlogIndex;
  return result;
}

// --- trust material ---------------------------------------------------------------------------

async function loadConfiguredKey(path: string): Promise<ConfiguredKey> {
  const pem = await readPolicyFile(path, 'verify.key', 64 * 1024);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw new ConfigError(`verify.key: ${path} is not a PEM public key (${(error as Error).message})`, {
      next: 'point verify.key at the public key the releases are signed with (cosign.pub)',
    });
  }
  const der = publicKey.export({format: 'der', type: 'spki'});
  return {path, publicKey, fingerprint: `SHA256:${createHash('sha256').update(der).digest('base64')}`};
}

async function loadTrustedRootFile(path: string): Promise<TrustedRoot> {
  const text = await readPolicyFile(path, 'verify.trustedRoot', MAX_TRUSTED_ROOT_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`verify.trustedRoot: ${path} is not valid JSON (${(error as Error).message})`);
  }
  const mediaType = field(raw, 'mediaType');
  if (typeof mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(mediaType)) {
    throw new ConfigError(`verify.trustedRoot: ${path} is not a Sigstore trusted_root.json (media type ${JSON.stringify(mediaType ?? null)})`);
  }
  try {
    return TrustedRoot.fromJSON(raw);
  } catch (error) {
    throw new ConfigError(`verify.trustedRoot: ${path} is not a valid trusted root (${(error as Error).message})`);
  }
}

async function fetchPublicGoodRoot(options: TufOptions = {}): Promise<{root: TrustedRoot; source: string}> {
  // Imported here: @sigstore/tuf brings tuf-js, make-fetch-happen and cacache (some 100
  // modules, 100-200 ms on this machine), which a key or a pinned trusted root never needs.
  const {DEFAULT_MIRROR_URL, getTrustedRoot} = await import('@sigstore/tuf');
  const cachePath = options.cacheDir ?? defaultTufCacheDir();
  const mirrorURL = options.mirrorURL ?? DEFAULT_MIRROR_URL;
  try {
    return {root: await getTrustedRoot({cachePath, mirrorURL}), source: `TUF ${mirrorURL} (cache ${cachePath})`};
  } catch (error) {
    const mirror = new URL(mirrorURL);
    // @sigstore/tuf keeps one cache per mirror, named after its host and path.
    const cached = join(cachePath, encodeURIComponent(mirror.host + mirror.pathname.replace(/\/$/, '')), 'targets', 'trusted_root.json');
    throw new VerificationError(
      `trusted root: could not get the Sigstore public-good trusted root through TUF from ${mirrorURL} (cache ${cachePath}): ${(error as Error).message}. ` +
        'For a host without access to it, pin a trusted_root.json with "verify.trustedRoot" in parako.json',
      {
        cause: error,
        next: `check network access to ${mirrorURL}; or copy trusted_root.json from a connected host (parako caches it at ${cached}) and set "verify.trustedRoot" to its path`,
      },
    );
  }
}

async function readPolicyFile(path: string, key: string, maxBytes: number): Promise<string> {
  return readCapped(path, maxBytes, (message, cause) => new ConfigError(`${key}: ${message}`, {cause}));
}

/** Reads a small file whole, stopping as soon as it is larger than `maxBytes` (a bundle is never big). */
async function readCapped(path: string, maxBytes: number, fail: (message: string, cause?: unknown) => ParakoError): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      length += (chunk as Buffer).length;
      if (length > maxBytes) break;
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw fail(`cannot read ${path}: ${(error as Error).message}`, error);
  }
  if (length > maxBytes) throw fail(`${path} is larger than ${maxBytes} bytes: refused`);
  return Buffer.concat(chunks).toString('utf8');
}
