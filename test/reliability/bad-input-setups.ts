/**
 * Building blocks for the bad input corpus (bad-input.test.ts): each function turns a world
 * with v1.0.0 installed into one where the next `parako` run meets one malformed or hostile
 * input. The release that carries it is v1.1.0, signed by the world's key unless the case is
 * about the signature, so a refusal proves the check itself and not a missing signature.
 */
import {createHash} from 'node:crypto';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import type {FeedRelease} from '../fixtures/feed-server.js';
import type {ReleaseSpec} from '../fixtures/release.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import type {SerializedBundle} from '../fixtures/sigstore.js';
import type {TarEntry} from '../fixtures/tar-writer.js';

/** What a case's setup gets: the world, already holding an installed v1.0.0. */
export type Setup = (world: SignedWorld) => Promise<void>;

export const NEXT = '1.1.0';

/** A good, signed v1.1.0: the release a config or flag case would install if it were accepted. */
export const goodRelease: Setup = async (world) => {
  await world.publish({version: NEXT});
};

/** A signed v1.1.0 built from a lying spec (extra entries, another manifest…); `root` is outside the install dir. */
export function signedRelease(spec: (root: string) => Omit<ReleaseSpec, 'version' | 'app'>): Setup {
  return async (world) => {
    await world.publish({version: NEXT, ...spec(world.root)});
  };
}

/** A signed v1.1.0 whose release.json is exactly `text`. */
export function signedManifest(text: string): Setup {
  return signedRelease(() => ({files: {'release.json': text}}));
}

/** A v1.1.0 release.json that is valid except for `override` (merged over it). */
export function manifestWith(override: Record<string, unknown>): string {
  return JSON.stringify({app: 'demo-app', version: NEXT, migration: null, breaking: [], notes: 'n', ...override});
}

/**
 * A v1.1.0 artifact that is `bytes` verbatim (not a tarball, cut short…), signed by the world's
 * key, with an index whose sha256 and size describe it: only the unpacking can refuse it.
 */
export function signedBytes(bytes: (entries: TarEntry[]) => Buffer): Setup {
  return async (world) => {
    const release = await world.publish({version: NEXT});
    const content = bytes(releaseEntries(world.app));
    await writeFile(release.file, content);
    await writeBundle(release, await world.sigstore.signWithKey(release.file));
    await setIndexEntry(world, {sha256: createHash('sha256').update(content).digest('hex'), size: content.length});
  };
}

/** The entries of a plain, well-formed v1.1.0 release, with ~64 KiB of incompressible padding so a cut lands mid-stream. */
function releaseEntries(app: string): TarEntry[] {
  const noise = Buffer.concat(Array.from({length: 2048}, (_, i) => createHash('sha256').update(String(i)).digest()));
  return [
    {path: 'release.json', content: manifestWith({app})},
    {path: 'VERSION', content: `${NEXT}\n`},
    {path: 'server.js', content: 'console.log("v1.1.0")\n'},
    {path: 'assets', type: 'dir'},
    {path: 'assets/noise.bin', content: noise},
  ];
}

/** A signed v1.1.0 whose bundle is replaced by what `bundle` makes (it may be raw text). */
export function bundleOf(bundle: (world: SignedWorld, release: FeedRelease) => Promise<SerializedBundle | string | Buffer>): Setup {
  return async (world) => {
    const release = await world.publish({version: NEXT});
    await writeBundle(release, await bundle(world, release));
  };
}

/** The world's own good bundle for v1.1.0, changed in place by `edit`, or replaced by what it returns (a tampering attacker). */
export function editedBundle(edit: (bundle: SerializedBundle) => unknown): Setup {
  return bundleOf(async (world, release) => {
    const bundle = JSON.parse(await readFile(release.bundleFile!, 'utf8')) as SerializedBundle;
    const edited = edit(bundle);
    // A string is served as it is (a bundle cut short); anything else is JSON-encoded.
    return typeof edited === 'string' ? edited : JSON.stringify(edited === undefined ? bundle : edited);
  });
}

async function writeBundle(release: FeedRelease, bundle: SerializedBundle | string | Buffer): Promise<void> {
  await writeFile(release.bundleFile!, typeof bundle === 'string' || Buffer.isBuffer(bundle) ? bundle : JSON.stringify(bundle));
}

/** Flips one character of a base64 string, so it stays decodable but means something else. */
export function flipBase64(value: string): string {
  const i = Math.floor(value.length / 2);
  return `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
}

/**
 * A good v1.1.0 whose bundle URL answers 200 with `body`. An empty bundle must come this way:
 * the feed fixture drops the connection when the file it serves is empty.
 */
export function bundleBody(body: string): Setup {
  return async (world) => {
    await world.publish({version: NEXT});
    world.feed.faults.contentOverride = {suffix: '.sigstore.json', body, contentType: 'application/json'};
  };
}

/** A good v1.1.0, then an index that serves `index` (an object is JSON-encoded; text verbatim). */
export function indexOf(index: (generated: ReturnType<SignedWorld['feed']['generatedIndex']>) => unknown): Setup {
  return async (world) => {
    await world.publish({version: NEXT});
    await world.feed.setIndex(index(world.feed.generatedIndex()));
  };
}

/** A good v1.1.0 whose index entry is changed by `override`. */
export function indexEntryWith(override: Record<string, unknown>): Setup {
  return indexOf((generated) => ({...generated, releases: generated.releases.map((r) => ({...r, ...override}))}));
}

/** The index entry of v1.1.0, changed by `override`; the other entries as generated. */
async function setIndexEntry(world: SignedWorld, override: Record<string, unknown>): Promise<void> {
  const generated = world.feed.generatedIndex();
  await world.feed.setIndex({...generated, releases: generated.releases.map((r) => (r.version === NEXT ? {...r, ...override} : r))});
}

/**
 * A good v1.1.0, and parako.json written as `text` verbatim: were the config accepted, the
 * update would go through, so an unchanged install dir proves the refusal.
 */
export function configText(text: string): Setup {
  return async (world) => {
    await world.publish({version: NEXT});
    await writeFile(world.configFile, text);
  };
}

/** A good v1.1.0, and parako.json = the world's config deep-merged with `overrides` (undefined removes a key). */
export function configWith(overrides: Record<string, unknown>): Setup {
  return all(hostConfig(overrides), goodRelease);
}

/** parako.json = the world's config deep-merged with `overrides`, nothing published. */
export function hostConfig(overrides: Record<string, unknown>): Setup {
  return (world) => world.writeConfig(overrides);
}

/** runtime/ as an operator keeps it (architecture.md §2): parako must never touch it. */
export const withRuntimeDir: Setup = async (world) => {
  await mkdir(join(world.dir, 'runtime', 'data'), {recursive: true});
  await writeFile(join(world.dir, 'runtime', 'data', 'app.db'), 'operator data\n');
};

/** Runs every setup in order. */
export function all(...setups: Setup[]): Setup {
  return async (world) => {
    for (const setup of setups) await setup(world);
  };
}
