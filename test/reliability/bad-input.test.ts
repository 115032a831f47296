/**
 * The bad input corpus (docs/security.md, "Bad input corpus"): every malformed or hostile input
 * an operator's host can meet — a signed but hostile archive, a broken or foreign Sigstore
 * bundle, a lying index, a bad release.json, a broken parako.json, wrong flags — run through
 * the real CLI against a copy of an installed v1.0.0. Each one must be refused with the exit
 * code of architecture.md §8, a message that names the problem, no stack trace, and an install dir that
 * is "Unchanged" (byte-identical outside .parako/, no lock, journal or download left).
 *
 * One table, one loop: a new bad input is one more row, and docs/security.md lists every row.
 */
import {readdir} from 'node:fs/promises';
import {join} from 'node:path';
import {gzipSync} from 'node:zlib';

import {describe, expect, it} from 'vitest';

import {releaseArtifactPath} from '../fixtures/release.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {generateTestKeyPair} from '../fixtures/sigstore.js';
import {tarBytes, tgzBytes} from '../fixtures/tar-writer.js';
import {explain, expectExit, expectUnchanged, parako, snapshotInstall, useInstalledWorlds} from '../integration/helpers.js';
import {
  all,
  bundleBody,
  bundleOf,
  configText,
  configWith,
  editedBundle,
  flipBase64,
  goodRelease,
  hostConfig,
  indexEntryWith,
  indexOf,
  manifestWith,
  NEXT,
  type Setup,
  signedBytes,
  signedManifest,
  signedRelease,
  withRuntimeDir,
} from './bad-input-setups.js';

type Category = 'archive' | 'release.json' | 'bundle' | 'index' | 'config' | 'flags';

interface BadInput {
  name: string;
  category: Category;
  /** Makes the bad input, on a world where v1.0.0 is installed. */
  setup: Setup;
  /** The command line (`--dir <install dir>` is appended). */
  args: string[] | ((world: SignedWorld) => string[]);
  code: number;
  /** What the operator reads on stderr. */
  message: RegExp;
  /**
   * The refusal came after a staging dir was made and removed again, which moves the mtime of
   * releases/ itself (the one difference architecture.md §8 allows: it names file mtimes, not dirs).
   */
  staged?: boolean;
}

const ISSUER = 'https://token.actions.githubusercontent.com';
const IDENTITY = 'https://github.com/acme/demo-app/.github/workflows/release.yml@refs/tags/v1.1.0';

const CASES: BadInput[] = [
  // --- archives: signed by the right key, hostile inside (architecture.md §3 step 6) ---------------------
  {
    name: 'an entry with a ../ path',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: '../evil', content: 'x'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a path with "\.\." \("\.\.\/evil"\)/,
    staged: true,
  },
  {
    name: 'an entry with an absolute path',
    category: 'archive',
    setup: signedRelease((root) => ({extraEntries: [{path: join(root, 'evil-abs'), content: 'x'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: an absolute path/,
    staged: true,
  },
  {
    name: 'a symlink out of the release (../../etc)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'link', type: 'symlink', linkpath: '../../etc'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a link that resolves outside the release \(-> \.\.\/\.\.\/etc\)/,
    staged: true,
  },
  {
    name: 'an absolute symlink (/etc/passwd)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'passwd', type: 'symlink', linkpath: '/etc/passwd'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a link to an absolute path \(\/etc\/passwd\)/,
    staged: true,
  },
  {
    name: 'a symlink chain, each link inside on its own (a/b -> .., u -> a/b/..)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'a', type: 'dir'}, {path: 'a/b', type: 'symlink', linkpath: '..'}, {path: 'u', type: 'symlink', linkpath: 'a/b/..'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: the symlink "u" resolves outside the release through other links/,
    staged: true,
  },
  {
    name: 'a hardlink out of the release (../outside)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'hl', type: 'hardlink', linkpath: '../outside'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a link that resolves outside the release \(-> \.\.\/outside\)/,
    staged: true,
  },
  {
    name: 'a character device (/dev/null, 1:3)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'null', type: 'char', devmajor: 1, devminor: 3}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a CharacterDevice entry/,
    staged: true,
  },
  {
    name: 'a fifo',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'pipe', type: 'fifo'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a FIFO entry/,
    staged: true,
  },
  {
    name: 'more entries than limits.maxEntries (4)',
    category: 'archive',
    setup: all(hostConfig({limits: {maxEntries: 4}}), signedRelease(() => ({files: {'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c'}}))),
    args: ['update'],
    code: 3,
    message: /unsafe archive: more than 4 entries/,
    staged: true,
  },
  {
    name: 'more bytes than limits.maxExtractedBytes (a 200 kB file of zeros under a 100 kB cap)',
    category: 'archive',
    setup: all(hostConfig({limits: {maxExtractedBytes: 100_000}}), signedRelease(() => ({files: {'zeros.bin': '\0'.repeat(200_000)}}))),
    args: ['update'],
    code: 3,
    message: /unsafe archive: more than 100000 bytes once extracted/,
    staged: true,
  },
  {
    name: 'a file stored twice (server.js)',
    category: 'archive',
    setup: signedRelease(() => ({extraEntries: [{path: 'server.js', content: 'console.log("the second server.js")\n'}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a path stored twice \("server\.js"\); nothing was installed/,
    staged: true,
  },
  {
    name: 'a directory stored twice (assets/ and ./assets/)',
    category: 'archive',
    setup: signedRelease(() => ({files: {'assets/a.txt': 'a'}, extraEntries: [{path: './assets', type: 'dir'}]})),
    args: ['update', '--dry-run'],
    code: 3,
    message: /unsafe archive: a path stored twice \("\.\/assets\/"\); nothing was installed/,
  },
  {
    name: 'not a tarball at all (a text file, signed)',
    category: 'archive',
    setup: signedBytes(() => Buffer.from('this is not a tarball\n'.repeat(100))),
    args: ['update'],
    code: 3,
    // Not "no release.json": the operator must learn that the file is no archive at all.
    message: /the artifact is not a (gzip )?tar(ball| archive)|Unrecognized archive format/,
  },
  {
    // architecture.md §7: the artifact is a gzip tarball; a raw tar is not read as one.
    name: 'an uncompressed tar of a good release (signed)',
    category: 'archive',
    setup: signedBytes((entries) => tarBytes(entries)),
    args: ['update'],
    code: 3,
    message: /the artifact is not a gzip tarball \(no gzip header\); nothing was installed/,
  },
  {
    name: 'gzip of bytes that are not a tar archive (signed)',
    category: 'archive',
    setup: signedBytes(() => gzipSync(Buffer.from('just some text, no tar headers\n'.repeat(100)))),
    args: ['update'],
    code: 3,
    message: /the artifact is not a (gzip )?tar(ball| archive)|Unrecognized archive format/,
  },
  {
    name: 'a gzip stream cut in the middle (signed as cut)',
    category: 'archive',
    setup: signedBytes((entries) => {
      const whole = tgzBytes(entries);
      return whole.subarray(0, Math.floor(whole.length / 2));
    }),
    args: ['update'],
    code: 3,
    message: /the artifact cannot be extracted: .*(unexpected end of file|truncated)/i,
    staged: true,
  },

  // --- release.json: inside the signed archive, so trusted only for what it binds (architecture.md §7) ---
  {
    name: 'no release.json',
    category: 'release.json',
    setup: signedRelease(() => ({omitManifest: true})),
    args: ['update'],
    code: 3,
    message: /the artifact has no release\.json at its root/,
  },
  {
    name: 'release.json for another app',
    category: 'release.json',
    setup: signedManifest(manifestWith({app: 'other-app'})),
    args: ['update'],
    code: 3,
    message: /release\.json is for app "other-app", expected "demo-app"/,
  },
  {
    name: 'release.json for another version (an old signed artifact replayed as 1.1.0)',
    category: 'release.json',
    setup: signedRelease(() => ({manifestVersion: '1.0.0'})),
    args: ['update'],
    code: 3,
    message: /release\.json says version 1\.0\.0, but 1\.1\.0 was asked for/,
  },
  {
    name: 'release.json that is not JSON',
    category: 'release.json',
    setup: signedManifest('{"app": "demo-app", "version": '),
    args: ['update'],
    code: 3,
    message: /release\.json is not valid JSON/,
  },
  {
    name: 'release.json with a number for version',
    category: 'release.json',
    setup: signedManifest(manifestWith({version: 110})),
    args: ['update'],
    code: 3,
    message: /release\.json is malformed: version: /,
  },
  {
    name: 'release.json with a string for migration',
    category: 'release.json',
    setup: signedManifest(manifestWith({migration: 'rm -rf /'})),
    args: ['update'],
    code: 3,
    message: /release\.json is malformed: migration: /,
  },
  {
    name: 'release.json with an empty migration command',
    category: 'release.json',
    setup: signedManifest(manifestWith({migration: {command: ''}})),
    args: ['update'],
    code: 3,
    message: /release\.json is malformed: migration\.command: /,
  },
  {
    name: 'release.json twice, the second for another version',
    category: 'release.json',
    setup: signedRelease(() => ({extraEntries: [{path: 'release.json', content: manifestWith({version: '9.9.9'})}]})),
    args: ['update'],
    code: 3,
    message: /unsafe archive: a path stored twice \("release\.json"\); nothing was installed/,
    staged: true,
  },
  {
    // The plan and the prompt read the first (no migration); extraction would keep the second.
    name: 'release.json twice, the second declaring a migration (update --migrate)',
    category: 'release.json',
    setup: signedRelease((root) => ({extraEntries: [{path: 'release.json', content: manifestWith({migration: {command: `touch ${join(root, 'migration-ran')}`}})}]})),
    args: ['update', '--migrate'],
    code: 3,
    message: /unsafe archive: a path stored twice \("release\.json"\); nothing was installed/,
    staged: true,
  },
  {
    name: 'release.json twice, the second declaring a migration (update --dry-run)',
    category: 'release.json',
    setup: signedRelease((root) => ({extraEntries: [{path: './release.json', content: manifestWith({migration: {command: `touch ${join(root, 'migration-ran')}`}})}]})),
    args: ['update', '--dry-run', '--migrate'],
    code: 3,
    message: /unsafe archive: a path stored twice \("\.\/release\.json"\); nothing was installed/,
  },

  // --- Sigstore bundles (architecture.md §3 step 4) ------------------------------------------------------
  {
    name: 'no bundle (HTTP 404)',
    category: 'bundle',
    setup: async (world) => {
      await world.publish({version: NEXT});
      world.feed.faults.status = {suffix: '.sigstore.json', code: 404, times: 1000};
    },
    args: ['update'],
    code: 3,
    message: /fetching http:\/\/\S+\.sigstore\.json failed: server answered HTTP 404/,
  },
  {
    name: 'an empty bundle file',
    category: 'bundle',
    setup: bundleBody(''),
    args: ['update'],
    code: 3,
    message: /signature bundle \S+ is not valid JSON/,
  },
  {
    name: 'a bundle that is not JSON',
    category: 'bundle',
    setup: bundleOf(async () => 'not json at all'),
    args: ['update'],
    code: 3,
    message: /signature bundle \S+ is not valid JSON/,
  },
  {
    name: 'a bundle cut in half',
    category: 'bundle',
    setup: editedBundle((bundle) => JSON.stringify(bundle).slice(0, 200)),
    args: ['update'],
    code: 3,
    message: /signature bundle \S+ is not valid JSON/,
  },
  {
    name: 'a bundle with an unknown media type',
    category: 'bundle',
    setup: editedBundle((bundle) => ({...bundle, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=9.9'})),
    args: ['update'],
    code: 3,
    message: /has unknown media type "application\/vnd\.dev\.sigstore\.bundle\+json;version=9\.9"/,
  },
  {
    name: 'a bundle signed by another key',
    category: 'bundle',
    setup: bundleOf((world, release) => world.sigstore.signWithKey(release.file, {key: generateTestKeyPair()})),
    args: ['update'],
    code: 3,
    message: /signature: the bundle's signature over the artifact does not verify with the configured key/,
  },
  {
    name: 'the bundle of another artifact (v1.0.0\'s)',
    category: 'bundle',
    setup: bundleOf(async (world) => {
      const old = await world.publish({version: '1.0.0'});
      return world.sigstore.signWithKey(old.file);
    }),
    args: ['update'],
    code: 3,
    message: /messageDigest: the artifact's sha256 [0-9a-f]{64} does not match the [0-9a-f]{64} signed in the bundle/,
  },
  {
    name: 'a tampered signature (one base64 character changed)',
    category: 'bundle',
    setup: editedBundle((bundle) => {
      bundle.messageSignature!.signature = flipBase64(bundle.messageSignature!.signature);
    }),
    args: ['update'],
    code: 3,
    message: /signature: .*does not verify with the configured key/,
  },
  {
    name: 'a keyless (certificate) bundle under a key policy',
    category: 'bundle',
    setup: bundleOf((world, release) => world.sigstore.signKeyless(release.file, {identity: IDENTITY, issuer: ISSUER})),
    args: ['update'],
    code: 3,
    message: /signing key: the bundle carries a signing certificate, but verify\.key is configured/,
  },
  {
    name: 'a DSSE attestation instead of a signature over the artifact',
    category: 'bundle',
    setup: bundleOf((world, release) => world.sigstore.signDsseKeyless(release.file, {identity: IDENTITY, issuer: ISSUER})),
    args: ['update'],
    code: 3,
    message: /holds a DSSE envelope \(an attestation\), not a signature over the artifact/,
  },
  {
    name: 'a bundle over 1 MiB',
    category: 'bundle',
    setup: bundleOf(async () => Buffer.alloc(1024 * 1024 + 1, 0x20)),
    args: ['update'],
    code: 3,
    message: /\.sigstore\.json is larger than 1048576 bytes; refusing it/,
  },

  // --- the index: untrusted, it only says where to look (architecture.md §7) -----------------------------
  {
    name: 'no index (HTTP 404)',
    category: 'index',
    setup: async (world) => {
      await world.publish({version: NEXT});
      world.feed.faults.status = {suffix: 'index.json', code: 404, times: 1000};
    },
    args: ['update'],
    code: 3,
    message: /the release feed \S+ answered HTTP 404/,
  },
  {
    name: 'an index that is an HTML page',
    category: 'index',
    setup: indexOf(() => '<!doctype html><html><body>Releases</body></html>'),
    args: ['update'],
    code: 3,
    message: /the release feed \S+ is not JSON \(it starts with "<!doctype html>/,
  },
  {
    name: 'an index that is not JSON (cut short)',
    category: 'index',
    setup: indexOf((generated) => JSON.stringify(generated).slice(0, 40)),
    args: ['update'],
    code: 3,
    message: /the release feed \S+ is not JSON \(it starts with "\{/,
  },
  {
    name: 'a release entry without sha256',
    category: 'index',
    setup: indexEntryWith({sha256: undefined}),
    args: ['update'],
    code: 3,
    message: /is malformed:\s+releases\.0\.sha256: /,
  },
  {
    name: 'a non-semver version ("1.1")',
    category: 'index',
    setup: indexEntryWith({version: '1.1'}),
    args: ['update'],
    code: 3,
    message: /releases\.0\.version: must be a semantic version like 1\.4\.0/,
  },
  {
    name: 'a version with build metadata ("1.1.0+b7")',
    category: 'index',
    setup: indexEntryWith({version: '1.1.0+b7'}),
    args: ['update'],
    code: 3,
    message: /releases\.0\.version: must not carry build metadata/,
  },
  {
    name: 'a negative size',
    category: 'index',
    setup: indexEntryWith({size: -1}),
    args: ['update'],
    code: 3,
    message: /releases\.0\.size: /,
  },
  {
    name: 'an absurd size (1 PB, over limits.maxDownloadBytes)',
    category: 'index',
    setup: indexEntryWith({size: 1e15}),
    args: ['update'],
    code: 3,
    message: /the feed says v1\.1\.0 is 1000000000000000 bytes, more than limits\.maxDownloadBytes/,
  },
  {
    name: 'a sha256 of 63 hex digits',
    category: 'index',
    setup: indexEntryWith({sha256: 'a'.repeat(63)}),
    args: ['update'],
    code: 3,
    message: /releases\.0\.sha256: must be 64 hex digits/,
  },
  {
    name: 'an index for another app',
    category: 'index',
    setup: indexOf((generated) => ({...generated, app: 'other-app'})),
    args: ['update'],
    code: 3,
    message: /is for app "other-app", but this host runs "demo-app"/,
  },
  {
    name: 'a file:// artifact URL',
    category: 'index',
    setup: indexEntryWith({artifact: 'file:///etc/passwd'}),
    args: ['update'],
    code: 3,
    message: /the release feed names file:\/\/\/etc\/passwd, which is not http\(s\)/,
  },
  {
    name: 'the same version listed twice (1.1.0 and v1.1.0)',
    category: 'index',
    setup: indexOf((generated) => ({...generated, releases: [...generated.releases, {...generated.releases[0]!, version: `v${NEXT}`}]})),
    args: ['update'],
    code: 3,
    message: /lists version 1\.1\.0 twice/,
  },
  {
    name: 'an index that offers only an older version (a downgrade)',
    category: 'index',
    setup: async (world) => {
      await world.publish({version: '0.9.0'});
    },
    args: ['update'],
    code: 5,
    message: /v0\.9\.0 is older than the running v1\.0\.0; refusing to downgrade/,
  },

  // --- parako.json (architecture.md §6): refused before anything is fetched -----------------------------
  {
    name: 'parako.json that is not JSON',
    category: 'config',
    setup: configText('{"app": "demo-app",'),
    args: ['update'],
    code: 2,
    message: /parako\.json is not valid JSON/,
  },
  {
    name: 'an unknown top-level key (a typo: keepRelease)',
    category: 'config',
    setup: configWith({keepRelease: 5}),
    args: ['update'],
    code: 2,
    message: /unknown key "keepRelease"/,
  },
  {
    name: 'no feed (source missing)',
    category: 'config',
    setup: configWith({source: undefined}),
    args: ['update'],
    code: 2,
    message: /parako\.json:\s+source: /,
  },
  {
    name: 'an empty verify policy ({}: verification off)',
    category: 'config',
    setup: configWith({verify: {key: undefined}}),
    args: ['update'],
    code: 2,
    message: /verification cannot be turned off/,
  },
  {
    name: 'both key and issuer in verify',
    category: 'config',
    setup: configWith({verify: {issuer: ISSUER, identity: IDENTITY}}),
    args: ['update'],
    code: 2,
    message: /give "key" \(key-based\) or "issuer" \(keyless\), not both/,
  },
  {
    name: 'an identityRegExp that is not a regular expression',
    category: 'config',
    setup: configWith({verify: {key: undefined, issuer: ISSUER, identityRegExp: '^https://(github'}}),
    args: ['update'],
    code: 2,
    message: /verify\.identityRegExp: is not a valid regular expression/,
  },
  {
    name: 'a verify.key file that does not exist',
    category: 'config',
    setup: configWith({verify: {key: '/nonexistent/cosign.pub'}}),
    args: ['update'],
    code: 2,
    message: /verify\.key: cannot read \/nonexistent\/cosign\.pub/,
  },
  {
    name: 'keepReleases 0',
    category: 'config',
    setup: configWith({keepReleases: 0}),
    args: ['update'],
    code: 2,
    message: /keepReleases: /,
  },
  {
    name: 'keepReleases -1',
    category: 'config',
    setup: configWith({keepReleases: -1}),
    args: ['update'],
    code: 2,
    message: /keepReleases: /,
  },
  {
    name: 'an unknown supervisor type (runit)',
    category: 'config',
    setup: configWith({supervisor: {type: 'runit', services: ['demo-app']}}),
    args: ['update'],
    code: 2,
    message: /supervisor\.type: /,
  },
  {
    name: 'a ${ENV} reference to an unset variable',
    category: 'config',
    setup: configWith({backup: {type: 'mongo', uri: '${PARAKO_TEST_UNSET_URI}'}}),
    args: ['update'],
    code: 2,
    message: /backup\.uri: environment variable PARAKO_TEST_UNSET_URI is not set/,
  },
  {
    name: 'a migration.runAs that is a shell command',
    category: 'config',
    setup: configWith({migration: {runAs: 'root; rm -rf /'}}),
    args: ['update'],
    code: 2,
    message: /migration\.runAs: must be a system user name/,
  },
  {
    name: 'an app name with a path in it (../other)',
    category: 'config',
    setup: configWith({app: '../other'}),
    args: ['update'],
    code: 2,
    message: /app: must be a plain name/,
  },

  // --- flags (architecture.md §1) ------------------------------------------------------------------------
  {
    name: 'an unknown flag (--bogus)',
    category: 'flags',
    setup: goodRelease,
    args: ['update', '--bogus'],
    code: 2,
    message: /Nonexistent flag: --bogus/,
  },
  {
    name: '--version that is not a version or range (banana)',
    category: 'flags',
    setup: goodRelease,
    args: ['update', '--version', 'banana'],
    code: 2,
    message: /--version "banana" is not a version, a semver range or "latest"/,
  },
  {
    name: '--version that the feed does not list (9.9.9)',
    category: 'flags',
    setup: goodRelease,
    args: ['update', '--version', '9.9.9'],
    code: 2,
    message: /version 9\.9\.9 is not in the feed/,
  },
  {
    name: '--log-level bogus',
    category: 'flags',
    setup: goodRelease,
    args: ['update', '--log-level', 'bogus'],
    code: 2,
    message: /Expected --log-level=bogus to be one of/,
  },
  {
    name: 'rollback --to a version not retained (v9.9.9)',
    category: 'flags',
    setup: goodRelease,
    args: ['rollback', '--to', 'v9.9.9'],
    code: 5,
    message: /v9\.9\.9 is not retained in \S+ \(retained: v1\.0\.0\)/,
  },
  {
    name: 'rollback with no earlier release in the history',
    category: 'flags',
    setup: goodRelease,
    args: ['rollback'],
    code: 5,
    message: /the history names no release before v1\.0\.0 \(retained: v1\.0\.0\)/,
  },
  {
    // releases/v../../../runtime is <dir>/runtime: a path must never get as far as the filesystem.
    name: 'rollback --to a path, not a version (../../../runtime)',
    category: 'flags',
    setup: withRuntimeDir,
    args: ['rollback', '--to', '../../../runtime'],
    code: 2,
    message: /--to "\.\.\/\.\.\/\.\.\/runtime" is not a version/,
  },
  {
    name: 'rollback --to something that is not a version (1.0)',
    category: 'flags',
    setup: goodRelease,
    args: ['rollback', '--to', '1.0'],
    code: 2,
    message: /--to "1\.0" is not a version/,
  },
  {
    name: 'prune --keep 1 (below the minimum of 2)',
    category: 'flags',
    setup: goodRelease,
    args: ['prune', '--keep', '1'],
    code: 2,
    message: /Expected an integer greater than or equal to 2/,
  },
  {
    // --force says the database is already reverted, --reverse-migration asks parako to revert it.
    name: 'contradictory: rollback --reverse-migration --force',
    category: 'flags',
    setup: async (world) => {
      await world.publish({version: NEXT, migration: {command: 'true', reverse: 'true'}});
      expectExit(await parako(world, ['update', '--migrate']), 0);
    },
    args: ['rollback', '--reverse-migration', '--force'],
    code: 2,
    message: /--force.*--reverse-migration|--reverse-migration.*--force/,
  },
  {
    name: 'contradictory: verify --key with --certificate-oidc-issuer',
    category: 'flags',
    setup: goodRelease,
    args: (world) => {
      const artifact = releaseArtifactPath(world.feed.root, world.app, NEXT);
      return ['verify', artifact, '--bundle', `${artifact}.sigstore.json`, '--key', world.keyFile, '--certificate-oidc-issuer', ISSUER, '--certificate-identity', IDENTITY];
    },
    code: 2,
    message: /bad verification flags: give --key \(key-based\) or --certificate-oidc-issuer \(keyless\), not both/,
  },
  {
    name: 'an unknown command (upgrade)',
    category: 'flags',
    setup: goodRelease,
    args: ['upgrade'],
    code: 2,
    message: /"upgrade" is not a parako command/,
  },
  {
    name: 'a version as an argument, not a flag (update 1.1.0)',
    category: 'flags',
    setup: goodRelease,
    args: ['update', '1.1.0'],
    code: 2,
    message: /update takes the version as a flag, not as an argument \("1\.1\.0"\)\nnext: parako update --version 1\.1\.0/,
  },
  {
    name: 'a subcommand that does not exist (plugins instal)',
    category: 'flags',
    setup: goodRelease,
    args: ['plugins', 'instal', 'x'],
    code: 2,
    message: /"plugins instal" is not a parako command/,
  },
];

const worlds = useInstalledWorlds();

/** What the world's root holds besides the install dir, the feed and the key: nothing, unless something escaped. */
async function strayFiles(world: SignedWorld): Promise<string[]> {
  return (await readdir(world.root)).filter((name) => !['install', 'feed', 'keys'].includes(name));
}

describe('the bad input corpus: every malformed or hostile input is refused and changes nothing', () => {
  it('holds at least 40 cases, in every category', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    const names = new Set(CASES.map((c) => `${c.category}: ${c.name}`));
    expect(names.size, 'two cases share a name').toBe(CASES.length);
    expect(new Set(CASES.map((c) => c.category))).toEqual(new Set<Category>(['archive', 'release.json', 'bundle', 'index', 'config', 'flags']));
  });

  it.each(CASES.map((c) => [`${c.category}: ${c.name} -> exit ${c.code}`, c] as const))('%s', async (_title, {setup, args, code, message, staged}) => {
    const world = await worlds.installed();
    await setup(world);
    const before = await snapshotInstall(world);
    const result = await parako(world, typeof args === 'function' ? args(world) : args);
    // Soft, so one run reports a wrong code, a wrong message and a changed tree together.
    expect.soft(result.code, explain(result)).toBe(code);
    expect.soft(result.stderr, explain(result)).toMatch(message);
    expect.soft(result.stderr, `a stack trace instead of a message\n${explain(result)}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    await expectUnchanged(world, before, {soft: true, ignoreReleasesDirMtime: staged === true});
    expect(await strayFiles(world), 'a file was created outside the install dir').toEqual([]);
  });
});

