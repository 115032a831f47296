/**
 * `parako verify <artifact> [--bundle <file>]` (architecture.md §1): a file checked against a Sigstore
 * bundle (by default `<artifact>.sigstore.json`) as `cosign verify-blob` would, either with the cosign flags and no config, or with the
 * host's `verify` policy from `<dir>/parako.json`. Exit 0 "Verified OK", 3 not verified, 2 bad
 * flags or config. Run on bundles of a private test instance, and on real public-good bundles.
 */
import {randomBytes} from 'node:crypto';
import {existsSync} from 'node:fs';
import {copyFile, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, relative, resolve} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {type CliResult, repoRoot, runParako} from '../fixtures/cli.js';
import {createTestTrustRoot, generateTestKeyPair, type TestSigstore} from '../fixtures/sigstore.js';
import {diffTrees, snapshotTree} from '../fixtures/tree.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const IDENTITY = 'https://github.com/acme/demo-app/.github/workflows/release.yml@refs/tags/v1.4.0';
const MALLORY = 'https://github.com/mallory/demo-app/.github/workflows/release.yml@refs/tags/v1.4.0';

let sigstore: TestSigstore;
/** Holds the artifact, its bundles, cosign.pub and trusted_root.json; the cwd of most runs. */
let work: string;
/** An install dir whose parako.json has a keyless policy with a relative trustedRoot. */
let host: string;
/** An install dir whose parako.json has a keyless policy without a trustedRoot (public-good through TUF). */
let hostWithoutRoot: string;
/** A dir without parako.json. */
let empty: string;

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
  work = await mkdtemp(join(tmpdir(), 'parako-verify-command-'));
  host = join(work, 'host');
  hostWithoutRoot = join(work, 'host-without-root');
  empty = join(work, 'empty');
  await Promise.all([host, hostWithoutRoot, empty].map((dir) => mkdir(dir)));
  const artifact = join(work, 'app.tar.gz');
  await writeFile(artifact, randomBytes(200 * 1024));
  const trustedRoot = JSON.stringify(sigstore.trustedRootJson);
  const hostConfig = (verify: Record<string, unknown>): string =>
    JSON.stringify({app: 'demo-app', source: {index: 'https://releases.example.com/demo-app/index.json'}, verify});
  await Promise.all([
    writeFile(join(work, 'trusted_root.json'), trustedRoot),
    writeFile(join(host, 'trusted_root.json'), trustedRoot),
    writeFile(join(work, 'cosign.pub'), sigstore.publicKeyPem),
    writeFile(join(work, 'other.pub'), generateTestKeyPair().publicKeyPem),
    writeFile(join(host, 'parako.json'), hostConfig({issuer: ISSUER, identity: IDENTITY, trustedRoot: 'trusted_root.json'})),
    writeFile(join(hostWithoutRoot, 'parako.json'), hostConfig({issuer: ISSUER, identity: IDENTITY})),
  ]);
  const [keyless, mallory, keySigned] = await Promise.all([
    sigstore.signKeyless(artifact, {identity: IDENTITY, issuer: ISSUER}),
    sigstore.signKeyless(artifact, {identity: MALLORY, issuer: ISSUER}),
    sigstore.signWithKey(artifact),
  ]);
  await Promise.all([
    writeFile(join(work, 'keyless.sigstore.json'), JSON.stringify(keyless)),
    writeFile(join(work, 'mallory.sigstore.json'), JSON.stringify(mallory)),
    writeFile(join(work, 'key.sigstore.json'), JSON.stringify(keySigned)),
  ]);
});

afterAll(async () => {
  await sigstore?.close();
  if (work) await rm(work, {recursive: true, force: true});
});

/** `parako verify ...args`, run from `cwd` (default: the work dir, so relative paths are the operator's). */
function verify(args: string[], cwd = work): Promise<CliResult> {
  return runParako(['verify', ...args], {cwd});
}

function explain(result: CliResult): string {
  return `exit ${result.code}${result.timedOut ? ' (timed out)' : ''}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`;
}

function expectExit(result: CliResult, code: number): void {
  expect(result.code, explain(result)).toBe(code);
}

const KEYLESS_FLAGS = ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', 'trusted_root.json'];

describe('parako verify with cosign-style flags needs no config', () => {
  it('--certificate-identity and --certificate-oidc-issuer accept the allowed keyless signer: exit 0, "Verified OK"', async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'keyless.sigstore.json', ...KEYLESS_FLAGS, '--dir', empty]);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
    expect(result.stdout).toContain(`signer: ${IDENTITY}`);
    expect(result.stdout).toContain(`issuer: ${ISSUER}`);
    expect(result.stdout).toMatch(/transparency log index: \d+/);
    expect(result.stdout).toMatch(/sha256: [0-9a-f]{64}/);
  });

  it('--certificate-identity-regexp accepts a signer matching the pattern', async () => {
    const result = await verify([
      'app.tar.gz', '--bundle', 'keyless.sigstore.json',
      '--certificate-identity-regexp', '^https://github\\.com/acme/demo-app/\\.github/workflows/release\\.yml@refs/tags/v',
      '--certificate-oidc-issuer', ISSUER, '--trusted-root', 'trusted_root.json', '--dir', empty,
    ]);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
  });

  it('--key accepts a bundle signed with that key', async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'key.sigstore.json', '--key', 'cosign.pub', '--dir', empty]);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
    expect(result.stdout).toContain(`signer: key SHA256:${sigstore.keyPair.hint}`);
  });

  it('another identity exits 3 and names the expected and the found identity', async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'mallory.sigstore.json', ...KEYLESS_FLAGS, '--dir', empty]);
    expectExit(result, 3);
    expect(result.stderr).toContain(`certificate identity "${MALLORY}" does not match the allowed "${IDENTITY}"`);
    expect(result.stdout).not.toContain('Verified OK');
  });

  it('another issuer exits 3 and names the expected and the found issuer', async () => {
    const result = await verify([
      'app.tar.gz', '--bundle', 'keyless.sigstore.json',
      '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', 'https://accounts.google.com', '--trusted-root', 'trusted_root.json', '--dir', empty,
    ]);
    expectExit(result, 3);
    expect(result.stderr).toContain(`certificate issuer: expected "https://accounts.google.com", found "${ISSUER}"`);
  });

  it('another key exits 3', async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'key.sigstore.json', '--key', 'other.pub', '--dir', empty]);
    expectExit(result, 3);
    expect(result.stderr).toMatch(/signature: .* does not verify with the configured key/);
  });
});

describe('parako verify without --bundle reads <artifact>.sigstore.json, as cosign users name it', () => {
  /** A dir under the work dir holding app.tar.gz and, as `app.tar.gz.sigstore.json`, the bundle named. */
  async function artifactBeside(bundle: string): Promise<string> {
    const dir = await mkdtemp(join(work, 'beside-'));
    await copyFile(join(work, 'app.tar.gz'), join(dir, 'app.tar.gz'));
    await copyFile(join(work, bundle), join(dir, 'app.tar.gz.sigstore.json'));
    return dir;
  }

  it('FILE with FILE.sigstore.json beside it verifies: exit 0, the signer printed', async () => {
    const dir = await artifactBeside('keyless.sigstore.json');
    try {
      // The artifact is given with a directory: the default bundle is looked for beside it, not in the cwd.
      const result = await verify([join(relative(work, dir), 'app.tar.gz'), ...KEYLESS_FLAGS, '--dir', empty]);
      expectExit(result, 0);
      expect(result.stdout).toContain('Verified OK');
      expect(result.stdout).toContain(`signer: ${IDENTITY}`);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  it('no FILE.sigstore.json beside FILE exits 3, naming the path looked for and --bundle', async () => {
    expect(existsSync(join(work, 'app.tar.gz.sigstore.json')), 'the work dir must hold no default bundle').toBe(false);
    const result = await verify(['app.tar.gz', '--key', 'cosign.pub', '--dir', empty]);
    expectExit(result, 3);
    expect(result.stderr).toContain(
      'parako: no signature bundle for app.tar.gz: without --bundle, parako looked for app.tar.gz.sigstore.json and it does not exist\n' +
        'next: pass --bundle <file>: the bundle that cosign sign-blob --bundle wrote for app.tar.gz\n',
    );
    expect(result.stdout).not.toContain('Verified OK');
  });

  it('an explicit --bundle wins over FILE.sigstore.json beside it', async () => {
    // The bundle beside the artifact is signed by another identity: only the explicit one verifies.
    const dir = await artifactBeside('mallory.sigstore.json');
    try {
      const result = await verify([join(relative(work, dir), 'app.tar.gz'), '--bundle', 'keyless.sigstore.json', ...KEYLESS_FLAGS, '--dir', empty]);
      expectExit(result, 0);
      expect(result.stdout).toContain(`signer: ${IDENTITY}`);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});

describe("parako verify with the host's policy from --dir", () => {
  it('without policy flags, <dir>/parako.json is the policy, its relative trustedRoot read from the dir; the dir is not touched', async () => {
    const before = await snapshotTree(host);
    // Run from elsewhere: the policy's trusted_root.json must come from the install dir, not the cwd.
    const result = await verify([join(work, 'app.tar.gz'), '--bundle', join(work, 'keyless.sigstore.json'), '--dir', host], empty);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
    expect(result.stdout).toContain(`signer: ${IDENTITY}`);
    expect(diffTrees(before, await snapshotTree(host)), 'verify changed the install dir').toEqual([]);
  });

  it("the host's policy refuses another identity: exit 3, expected vs found", async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'mallory.sigstore.json', '--dir', host]);
    expectExit(result, 3);
    expect(result.stderr).toContain(`certificate identity "${MALLORY}" does not match the allowed "${IDENTITY}"`);
  });

  it('a relative --trusted-root next to the host policy is read from the current directory, like --bundle', async () => {
    const result = await verify(['app.tar.gz', '--bundle', 'keyless.sigstore.json', '--trusted-root', 'trusted_root.json', '--dir', hostWithoutRoot]);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
  });
});

describe('parako verify refuses bad flag combinations with exit 2', () => {
  const BUNDLE = ['app.tar.gz', '--bundle', 'keyless.sigstore.json'];
  it.each<[string, string[], RegExp]>([
    ['--key with --certificate-oidc-issuer', [...BUNDLE, '--key', 'cosign.pub', '--certificate-oidc-issuer', ISSUER], /--key .*--certificate-oidc-issuer .*not both/],
    ['--key with --certificate-identity', [...BUNDLE, '--key', 'cosign.pub', '--certificate-identity', IDENTITY], /not with --key/],
    ['--certificate-oidc-issuer without an identity', [...BUNDLE, '--certificate-oidc-issuer', ISSUER], /needs --certificate-identity or --certificate-identity-regexp/],
    ['--certificate-identity without --certificate-oidc-issuer', [...BUNDLE, '--certificate-identity', IDENTITY], /--certificate-oidc-issuer/],
    ['both --certificate-identity and --certificate-identity-regexp', [...BUNDLE, ...KEYLESS_FLAGS, '--certificate-identity-regexp', 'acme'], /not both/],
    ['an invalid --certificate-identity-regexp', [...BUNDLE, '--certificate-identity-regexp', '(', '--certificate-oidc-issuer', ISSUER], /not a valid regular expression/],
    ['no policy flags and no config', [...BUNDLE], /no host config at .*parako\.json/],
  ])('%s exits 2 and says why', async (_case, args, message) => {
    const result = await verify([...args, '--dir', empty]);
    expectExit(result, 2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toContain('Verified OK');
  });
});

describe('parako verify --json prints one result object with its code', () => {
  it.each<{name: string; args: string[]; code: number; fields: Record<string, unknown>}>([
    {
      name: 'verified',
      args: ['app.tar.gz', '--bundle', 'keyless.sigstore.json', ...KEYLESS_FLAGS],
      code: 0,
      fields: {outcome: 'verified', message: 'Verified OK', verified: {signer: IDENTITY, issuer: ISSUER}},
    },
    {
      name: 'not verified',
      args: ['app.tar.gz', '--bundle', 'mallory.sigstore.json', ...KEYLESS_FLAGS],
      code: 3,
      fields: {outcome: 'failed', message: expect.stringContaining(`certificate identity "${MALLORY}" does not match the allowed "${IDENTITY}"`)},
    },
    {
      name: 'bad flags',
      args: ['app.tar.gz', '--bundle', 'keyless.sigstore.json', '--key', 'cosign.pub', '--certificate-oidc-issuer', ISSUER],
      code: 2,
      fields: {outcome: 'failed', message: expect.stringMatching(/not both/)},
    },
  ])('$name: exit $code, and "code": $code in the one JSON object on stdout', async ({args, code, fields}) => {
    const result = await verify([...args, '--dir', empty, '--json']);
    expectExit(result, code);
    expect(result.stdout.trim().split('\n'), 'stdout is one line').toHaveLength(1);
    expect(result.json, explain(result)).toMatchObject({code, ...fields});
  });
});

// Real bundles of the Sigstore public-good instance, verified offline with the trusted root shipped next to them.
const fixtures = resolve(repoRoot, '../shared/fixtures/sigstore-public-good');
const present = existsSync(join(fixtures, 'trusted_root.json'));
// On a developer machine without the shared fixtures the tests skip; under CI they must be there.
const skip = !present && process.env.CI !== 'true';
const skipReason = skip ? ` (skipped: ${fixtures} not found)` : '';
const PUBLIC_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';

function publicGood(name: string, policy: string[], artifact = 'a.txt'): Promise<CliResult> {
  return runParako(['verify', artifact, '--bundle', join(name, 'bundle.sigstore.json'), ...policy, '--trusted-root', 'trusted_root.json'], {cwd: fixtures});
}

const PUBLIC_KEYLESS = ['--certificate-identity', PUBLIC_IDENTITY, '--certificate-oidc-issuer', ISSUER];

describe(`parako verify on public-good Sigstore bundles${skipReason}`, () => {
  it.skipIf(skip)(`finds the shared fixtures at ${fixtures}`, () => {
    expect(present, `${fixtures} is missing; CI must provide it`).toBe(true);
  });

  it.skipIf(skip)('happy-path-v0.3 verifies with the cosign keyless flags: exit 0, "Verified OK"', async () => {
    const result = await publicGood('happy-path-v0.3', PUBLIC_KEYLESS);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
    expect(result.stdout).toContain(`signer: ${PUBLIC_IDENTITY}`);
    expect(result.stdout).toContain('sha256: a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf');
  });

  it.skipIf(skip)('managed-key-happy-path verifies with --key key.pub: exit 0', async () => {
    const result = await publicGood('managed-key-happy-path', ['--key', 'managed-key-happy-path/key.pub']);
    expectExit(result, 0);
    expect(result.stdout).toContain('Verified OK');
    expect(result.stdout).toMatch(/signer: key SHA256:/);
  });

  it.skipIf(skip)('signature-mismatch_fail exits 3', async () => {
    const result = await publicGood('signature-mismatch_fail', PUBLIC_KEYLESS);
    expectExit(result, 3);
    expect(result.stderr).toMatch(/transparency log: .*signature mismatch|signature: /);
  });

  it.skipIf(skip)('wrong-material_fail (a valid bundle for another file) exits 3 on a digest mismatch', async () => {
    const result = await publicGood('wrong-material_fail', PUBLIC_KEYLESS, 'wrong-material_fail/artifact');
    expectExit(result, 3);
    expect(result.stderr).toMatch(/messageDigest: .* does not match/);
  });

  it.skipIf(skip)('happy-path-v0.3 under another identity exits 3, expected vs found', async () => {
    const result = await publicGood('happy-path-v0.3', ['--certificate-identity', `${PUBLIC_IDENTITY}x`, '--certificate-oidc-issuer', ISSUER]);
    expectExit(result, 3);
    expect(result.stderr).toContain(`certificate identity "${PUBLIC_IDENTITY}" does not match the allowed "${PUBLIC_IDENTITY}x"`);
  });
});
