/**
 * The Sigstore gate through the real CLI (architecture.md §6, §8, §3 step 4): `parako update` installs a
 * release only when its bundle verifies against the host's `verify` policy. The bad bundles of
 * test/unit/verify.test.ts are served here by a real feed for v1.1.0 over an installed v1.0.0;
 * each update exits 3, names the check that failed, and leaves the install dir "Unchanged"
 * with `current` still on v1.0.0.
 */
import {createHash} from 'node:crypto';
import {copyFile, cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {type CliResult, runParako} from '../fixtures/cli.js';
import type {FeedRelease} from '../fixtures/feed-server.js';
import {buildRelease} from '../fixtures/release.js';
import {createTestTrustRoot, generateTestKeyPair, type SerializedBundle, type TestSigstore} from '../fixtures/sigstore.js';
import {diffTrees, snapshotTree, UNCHANGED} from '../fixtures/tree.js';
import {makeWorld, type World} from '../fixtures/world.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const IDENTITY = 'https://github.com/acme/demo-app/.github/workflows/release.yml@refs/heads/main';
/** Quick retries, so a refused download does not wait for backoff. */
const FAST_ENV = {PARAKO_RETRY_BASE_MS: '20', PARAKO_HTTP_IDLE_TIMEOUT_MS: '1000'};

type Bundle = SerializedBundle | string;
/** Makes the bundle the feed serves for `artifact`; `installed` is the v1.0.0 artifact (another signed file). */
type BundleMaker = (artifact: string, installed: string) => Promise<Bundle>;
type Mode = 'keyless' | 'key';

let sigstore: TestSigstore;
/** A second private instance: its CA and log are not in the host's trusted root. */
let untrusted: TestSigstore;
let shared: string;
let trustedRootFile: string;

beforeAll(async () => {
  [sigstore, untrusted] = await Promise.all([createTestTrustRoot(), createTestTrustRoot()]);
  shared = await mkdtemp(join(tmpdir(), 'parako-verification-'));
  trustedRootFile = join(shared, 'trusted_root.json');
  await writeFile(trustedRootFile, JSON.stringify(sigstore.trustedRootJson));
});

afterAll(async () => {
  await Promise.all([sigstore?.close(), untrusted?.close()]);
  if (shared) await rm(shared, {recursive: true, force: true});
});

const keyless = (artifact: string, identity = IDENTITY, issuer = ISSUER): Promise<SerializedBundle> => sigstore.signKeyless(artifact, {identity, issuer});

/** A host with v1.0.0 installed and the signer's next bundle settable, one per test. */
interface Host {
  world: World;
  /** The "before" snapshot (UNCHANGED preset), taken after the v1.0.0 install. */
  before: Map<string, string>;
  /** What the signer writes as `<artifact>.sigstore.json` for the next published release. */
  signing: {next: BundleMaker; installed: string};
}

let host: Host | undefined;
/** Per mode, a world where `parako update` installed v1.0.0, made once; each test starts from a copy of its install dir. */
const templates = new Map<Mode, Promise<World>>();

afterEach(async () => {
  await host?.world.cleanup();
  host = undefined;
});

afterAll(async () => {
  const worlds = await Promise.allSettled(templates.values());
  await Promise.all(worlds.map((w) => (w.status === 'fulfilled' ? w.value.cleanup() : undefined)));
});

/** A world whose feed lists v1.0.0, signed well; later releases are signed by `signing.next`. */
async function newWorld(mode: Mode): Promise<{world: World; signing: Host['signing']}> {
  const good: BundleMaker = (artifact) => (mode === 'keyless' ? keyless(artifact) : sigstore.signWithKey(artifact));
  const signing = {next: good, installed: ''};
  const world = await makeWorld({
    // Keyless: a pinned private trusted root and an exact identity. Key-based: the world's default {key: keyFile}.
    verify: mode === 'keyless' ? {issuer: ISSUER, identity: IDENTITY, trustedRoot: trustedRootFile} : undefined,
    sign: async (artifact) => {
      const bundle = await signing.next(artifact, signing.installed);
      const file = `${artifact}.sigstore.json`;
      await writeFile(file, typeof bundle === 'string' ? bundle : `${JSON.stringify(bundle)}\n`);
      return file;
    },
  });
  if (mode === 'key') await writeFile(world.keyFile, sigstore.publicKeyPem);
  signing.installed = (await world.publish({version: '1.0.0'})).file;
  return {world, signing};
}

function template(mode: Mode): Promise<World> {
  let made = templates.get(mode);
  if (made === undefined) {
    made = (async () => {
      const {world} = await newWorld(mode);
      await world.writeConfig();
      expectExit(await update(world), 0);
      return world;
    })();
    templates.set(mode, made);
  }
  return made;
}

/** A fresh world with v1.0.0 installed (a copy of the template's install, its config aimed at this world's feed). */
async function installedHost(mode: Mode): Promise<Host> {
  const [installed, {world, signing}] = await Promise.all([template(mode), newWorld(mode)]);
  host = {world, before: new Map(), signing};
  await cp(installed.dir, world.dir, {recursive: true, verbatimSymlinks: true, preserveTimestamps: true});
  await world.writeConfig();
  expect(await readlink(join(world.dir, 'current'))).toBe('releases/v1.0.0');
  host.before = await snapshotTree(world.dir, UNCHANGED);
  return host;
}

/** Publishes v1.1.0 with the bundle `bundle` makes. */
async function publishBad(h: Host, bundle: BundleMaker): Promise<FeedRelease> {
  h.signing.next = bundle;
  return h.world.publish({version: '1.1.0'});
}

function update(world: World, args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
  return runParako(['update', ...args, '--dir', world.dir], {env: {...FAST_ENV, ...env}});
}

function explain(result: CliResult): string {
  return `exit ${result.code}${result.timedOut ? ' (timed out)' : ''}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`;
}

function expectExit(result: CliResult, code: number): void {
  expect(result.code, explain(result)).toBe(code);
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** architecture.md §8 "Unchanged" since the v1.0.0 install, current on v1.0.0, and no download left behind. */
async function expectInstallUntouched(h: Host): Promise<void> {
  const {world} = h;
  const downloads = join(world.dir, '.parako', 'downloads');
  expect(await entries(downloads), 'left in .parako/downloads').toEqual([]);
  const after = await snapshotTree(world.dir, UNCHANGED);
  // An empty downloads/ may come and go (entries of .parako/ come and go); a file in it would show in the diff.
  if (!h.before.has('.parako/downloads')) after.delete('.parako/downloads');
  expect(diffTrees(h.before, after), 'install dir changed').toEqual([]);
  expect(await readlink(join(world.dir, 'current'))).toBe('releases/v1.0.0');
  expect(await entries(join(world.dir, 'releases'))).toEqual(['v1.0.0']);
}

async function lastHistoryLine(world: World): Promise<Record<string, unknown>> {
  const lines = (await readFile(join(world.dir, '.parako', 'history.jsonl'), 'utf8')).trim().split('\n');
  return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
}

/** Re-encodes the first log entry's body after `edit`, as an attacker rewriting the bundle would. */
function editLogBody(bundle: SerializedBundle, edit: (body: {spec: {data: {hash: {value: string}}}}) => void): SerializedBundle {
  const entry = bundle.verificationMaterial.tlogEntries[0]!;
  const body = JSON.parse(Buffer.from(entry.canonicalizedBody, 'base64').toString('utf8'));
  edit(body);
  entry.canonicalizedBody = Buffer.from(JSON.stringify(body)).toString('base64');
  return bundle;
}

async function sha256Base64(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('base64');
}

interface BadCase {
  name: string;
  mode: Mode;
  bundle: BundleMaker;
  /** What else the attacker changes on the server after signing. */
  after?: (h: Host, release: FeedRelease) => Promise<void>;
  /** The failed check, as the operator reads it. */
  check: RegExp;
}

/** The attacker controls the server: a different, well-formed 1.1.0 replaces the signed one, and the index follows it. */
async function replaceArtifactAndFixIndex(h: Host, release: FeedRelease): Promise<void> {
  const evil = await buildRelease(join(h.world.root, 'evil'), {app: h.world.app, version: '1.1.0', files: {'server.js': 'process.exit(66)\n'}});
  await copyFile(evil.file, release.file);
  const index = h.world.feed.generatedIndex();
  index.releases = index.releases.map((r) => (r.version === '1.1.0' ? {...r, sha256: evil.sha256, size: evil.size} : r));
  await h.world.feed.setIndex(index);
}

const BAD: BadCase[] = [
  {
    name: 'a tampered artifact (the index fixed up to match it)',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact),
    after: replaceArtifactAndFixIndex,
    check: /messageDigest: the artifact's sha256 [0-9a-f]{64} does not match the [0-9a-f]{64} signed in the bundle/,
  },
  {
    name: 'the bundle of another artifact (the installed v1.0.0)',
    mode: 'keyless',
    bundle: (_artifact, installed) => keyless(installed),
    check: /messageDigest: .* does not match .* signed in the bundle/,
  },
  {
    name: 'another identity',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact, 'https://github.com/mallory/demo-app/.github/workflows/release.yml@refs/heads/main'),
    check: /certificate identity "https:\/\/github\.com\/mallory\/demo-app\/.*" does not match the allowed "https:\/\/github\.com\/acme\/demo-app\//,
  },
  {
    name: 'an identity that is a prefix of the allowed one',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact, IDENTITY.slice(0, -2)),
    check: /certificate identity ".*@refs\/heads\/ma" does not match the allowed/,
  },
  {
    name: 'an identity that is a substring of the allowed one',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact, 'https://github.com/acme/demo-app'),
    check: /certificate identity "https:\/\/github\.com\/acme\/demo-app" does not match the allowed/,
  },
  {
    name: 'an identity that contains the allowed one',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact, `${IDENTITY}-evil`),
    check: /certificate identity ".*main-evil" does not match the allowed/,
  },
  {
    name: 'another issuer',
    mode: 'keyless',
    bundle: (artifact) => keyless(artifact, IDENTITY, 'https://accounts.google.com'),
    check: /certificate issuer: expected "https:\/\/token\.actions\.githubusercontent\.com", found "https:\/\/accounts\.google\.com"/,
  },
  {
    name: 'a certificate from a CA the trusted root does not hold',
    mode: 'keyless',
    bundle: (artifact) => untrusted.signKeyless(artifact, {identity: IDENTITY, issuer: ISSUER}),
    check: /certificate chain: the signing certificate does not chain to a Fulcio CA of the trusted root/,
  },
  {
    name: 'its transparency-log entry stripped',
    mode: 'keyless',
    bundle: async (artifact) => {
      const bundle = await keyless(artifact);
      bundle.verificationMaterial.tlogEntries = [];
      return bundle;
    },
    check: /transparency log: the bundle has no transparency-log entry/,
  },
  {
    name: 'its transparency-log entry altered',
    mode: 'keyless',
    bundle: async (artifact) =>
      editLogBody(await keyless(artifact), (body) => {
        body.spec.data.hash.value = 'ab'.repeat(32);
      }),
    check: /transparency log: .*(inclusion promise could not be verified|root hash)/,
  },
  {
    name: 'a forged messageDigest (the signature and the log entry are over another file)',
    mode: 'keyless',
    bundle: async (artifact, installed) => {
      const bundle = await keyless(installed);
      bundle.messageSignature!.messageDigest!.digest = await sha256Base64(artifact);
      return bundle;
    },
    check: /transparency log: .*digest mismatch/,
  },
  {
    name: 'a DSSE envelope instead of a signature over the artifact',
    mode: 'keyless',
    bundle: (artifact) => sigstore.signDsseKeyless(artifact, {identity: IDENTITY, issuer: ISSUER}),
    check: /holds a DSSE envelope/,
  },
  {
    name: 'malformed JSON',
    mode: 'keyless',
    bundle: async () => '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",',
    check: /signature bundle .* is not valid JSON/,
  },
  {
    name: 'an unknown media type',
    mode: 'keyless',
    bundle: async (artifact) => ({...(await keyless(artifact)), mediaType: 'application/vnd.dev.sigstore.bundle+json;version=9.9'}),
    check: /unknown media type "application\/vnd\.dev\.sigstore\.bundle\+json;version=9\.9"/,
  },
  {
    name: 'a signature made with another key (key-based policy)',
    mode: 'key',
    bundle: (artifact) => sigstore.signWithKey(artifact, {key: generateTestKeyPair()}),
    check: /signature: the bundle's signature over the artifact does not verify with the configured key/,
  },
];

function badCase(name: string): BadCase {
  const found = BAD.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no case ${name}`);
  return found;
}

describe('parako update installs a release whose bundle verifies', () => {
  it('a keyless bundle from the allowed identity and issuer is installed (exit 0)', async () => {
    const h = await installedHost('keyless');
    await h.world.publish({version: '1.1.0'});
    const result = await update(h.world);
    expectExit(result, 0);
    expect(result.stdout).toContain(`verified: signed by ${IDENTITY} (issuer ${ISSUER})`);
    expect(await readlink(join(h.world.dir, 'current'))).toBe('releases/v1.1.0');
    expect(await entries(join(h.world.dir, '.parako', 'downloads'))).toEqual([]);
  });

  it('a bundle signed with the configured key (verify.key) is installed (exit 0)', async () => {
    const h = await installedHost('key');
    await h.world.publish({version: '1.1.0'});
    const result = await update(h.world);
    expectExit(result, 0);
    expect(result.stdout).toContain(`verified: signed by key SHA256:${sigstore.keyPair.hint}`);
    expect(await readlink(join(h.world.dir, 'current'))).toBe('releases/v1.1.0');
  });
});

describe('parako update refuses a release whose bundle does not verify, and leaves current untouched', () => {
  it.each(BAD)('a release with $name exits 3, names the check, and leaves the install dir byte-identical', async ({mode, bundle, after, check}) => {
    const h = await installedHost(mode);
    const release = await publishBad(h, bundle);
    await after?.(h, release);
    const result = await update(h.world);
    expectExit(result, 3);
    expect(result.stderr).toMatch(check);
    expect(result.stderr).toMatch(/current is still v1\.0\.0/);
    await expectInstallUntouched(h);
    expect(await lastHistoryLine(h.world)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'failed', code: 3});
  });

  it('--json reports the refusal as one object with code 3 and the failed check', async () => {
    const {bundle, check} = badCase('another identity');
    const h = await installedHost('keyless');
    await publishBad(h, bundle);
    const result = await update(h.world, ['--json']);
    expectExit(result, 3);
    expect(result.json, explain(result)).toMatchObject({code: 3, outcome: 'failed', from: '1.0.0', to: '1.1.0'});
    expect((result.json as {message: string}).message).toMatch(check);
    await expectInstallUntouched(h);
  });
});

describe('an identityRegExp with an alternative not anchored with ^ is refused before anything is fetched', () => {
  // "^A|B": A names acme's workflow, B ("demo-app/") is found in the middle of mallory's identity.
  const LOOSE = '^https://github\\.com/acme/demo-app/\\.github/workflows/release\\.yml@|demo-app/';
  const MALLORY = 'https://github.com/mallory/demo-app/.github/workflows/release.yml@refs/heads/main';

  it('parako update exits 2 naming the alternative, and a signer matching only it is not installed', async () => {
    const h = await installedHost('keyless');
    const release = await publishBad(h, (artifact) => keyless(artifact, MALLORY));
    await h.world.writeConfig({verify: {identity: undefined, identityRegExp: LOOSE}});
    h.before = await snapshotTree(h.world.dir, UNCHANGED);
    const result = await update(h.world);
    expectExit(result, 2);
    expect(result.stderr).toContain('verify.identityRegExp: the alternative "demo-app/" is not anchored with ^');
    expect(result.stderr).toContain('^(?:https://github\\.com/acme/demo-app/');
    await expectInstallUntouched(h);

    // The same rule for parako verify's flag.
    const flags = ['--bundle', release.bundleFile!, '--certificate-oidc-issuer', ISSUER, '--trusted-root', trustedRootFile];
    const verified = await runParako(['verify', release.file, ...flags, '--certificate-identity-regexp', LOOSE]);
    expectExit(verified, 2);
    expect(verified.stderr).toContain('--certificate-identity-regexp: the alternative "demo-app/" is not anchored with ^');
  });
});

describe('parako update --dry-run refuses a bad bundle and changes nothing at all', () => {
  it.each(['another identity', 'a tampered artifact (the index fixed up to match it)'])(
    'a dry run of a release with %s exits 3 and leaves the whole tree identical',
    async (name) => {
      const {mode, bundle, after, check} = badCase(name);
      const h = await installedHost(mode);
      const release = await publishBad(h, bundle);
      await after?.(h, release);
      const scratch = join(h.world.root, 'tmp');
      await mkdir(scratch);
      const before = await snapshotTree(h.world.dir); // no ignores: .parako/ included
      const result = await update(h.world, ['--dry-run', '--json'], {TMPDIR: scratch});
      expectExit(result, 3);
      expect(result.json, explain(result)).toMatchObject({code: 3});
      expect((result.json as {message: string}).message).toMatch(check);
      expect(diffTrees(before, await snapshotTree(h.world.dir)), 'install dir changed').toEqual([]);
      expect(await entries(scratch), 'left in the dry run scratch space (TMPDIR)').toEqual([]);
    },
  );
});
