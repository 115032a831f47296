/**
 * The inputs the benchmarks feed parako, generated on the spot and streamed to disk (never held
 * in memory): a large opaque file, a Sigstore bundle for it signed in one streamed pass, and a
 * node_modules-like release of many small text files.
 */
import {createHash, createSign, randomBytes} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, stat, writeFile} from 'node:fs/promises';
import {dirname} from 'node:path';
import {Readable, Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGzip} from 'node:zlib';

import {type BuiltRelease, type ReleaseManifest, demoServerJs, releaseArtifactPath} from '../test/fixtures/release.js';
import type {SerializedBundle, TestKeyPair} from '../test/fixtures/sigstore.js';
import {tarEntryHeader, tarPadding, tarTrailer} from '../test/fixtures/tar-writer.js';

const MiB = 1024 * 1024;

/** `size` bytes: one random 1 MiB block written over and over (cheap to make, hashes like any data). */
export async function writeRepeatingFile(file: string, size: number): Promise<void> {
  const block = randomBytes(MiB);
  async function* blocks(): AsyncGenerator<Buffer> {
    for (let left = size; left > 0; left -= MiB) yield left >= MiB ? block : block.subarray(0, left);
  }
  await mkdir(dirname(file), {recursive: true});
  await pipeline(Readable.from(blocks()), createWriteStream(file));
}

/**
 * What `cosign sign-blob --key k --bundle <file>.sigstore.json --tlog-upload=false` writes: a
 * v0.3 messageSignature bundle, the same shape test/fixtures/sigstore.ts signWithKey makes.
 * That fixture reads the artifact into memory; this signs in one streamed pass.
 */
export async function signFileWithKey(file: string, key: TestKeyPair): Promise<string> {
  const digest = createHash('sha256');
  const signer = createSign('sha256');
  for await (const chunk of createReadStream(file)) {
    digest.update(chunk as Buffer);
    signer.update(chunk as Buffer);
  }
  const bundle: SerializedBundle = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {publicKey: {hint: key.hint}, x509CertificateChain: undefined, certificate: undefined, tlogEntries: [], timestampVerificationData: undefined},
    messageSignature: {
      messageDigest: {algorithm: 'SHA2_256', digest: digest.digest('base64')},
      signature: signer.sign(key.privateKey).toString('base64'),
    },
    dsseEnvelope: undefined,
  };
  const bundleFile = `${file}.sigstore.json`;
  await writeFile(bundleFile, `${JSON.stringify(bundle)}\n`);
  return bundleFile;
}

export interface TreeReleaseSpec {
  app?: string; // default 'demo-app'
  version: string;
  /** Files under node_modules/ (the release's own release.json, server.js and VERSION come on top). */
  fileCount: number;
  /** Their total size, uncompressed. */
  totalBytes: number;
  gzipLevel?: number; // default 6, what `tar -czf` uses
  /** One more file of this many random (incompressible) bytes, `assets/bundle.bin`: a media or WASM asset beside the code. */
  bigFileBytes?: number;
}

/**
 * A release shaped like a deployed Node app: node_modules/ with packages of ~50 files each,
 * most of them a few KiB, a few hundred KiB, all JavaScript-like text that gzip shrinks about
 * as much as real code. Deterministic for a given spec.
 */
export async function buildNodeModulesRelease(outDir: string, spec: TreeReleaseSpec): Promise<BuiltRelease> {
  const app = spec.app ?? 'demo-app';
  const manifest: ReleaseManifest = {app, version: spec.version, migration: null, breaking: [], notes: `Benchmark release ${spec.version}`};
  const file = releaseArtifactPath(outDir, app, spec.version);
  await mkdir(dirname(file), {recursive: true});
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.from(treeTarChunks(spec, manifest)), createGzip({level: spec.gzipLevel ?? 6}), hashing, createWriteStream(file));
  const {size} = await stat(file);
  return {app, version: spec.version, file, sha256: hash.digest('hex'), size, manifest};
}

interface TreeFile {
  path: string;
  size: number;
}

interface TreePackage {
  dirs: string[];
  files: TreeFile[];
}

function* treeTarChunks(spec: TreeReleaseSpec, manifest: ReleaseManifest): Generator<Buffer> {
  const top: Record<string, string> = {
    'release.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'server.js': demoServerJs(manifest.app, spec.version),
    VERSION: `${spec.version}\n`,
  };
  for (const [path, text] of Object.entries(top)) {
    const content = Buffer.from(text);
    yield Buffer.concat([tarEntryHeader({path}, content.length), content, tarPadding(content.length)]);
  }
  const random = mulberry32(0x5eed);
  const pool = sourceTextPool(random, 4 * MiB);
  yield tarEntryHeader({path: 'node_modules', type: 'dir'}, 0);
  for (const pkg of packages(random, spec.fileCount, spec.totalBytes)) {
    for (const dir of pkg.dirs) yield tarEntryHeader({path: dir, type: 'dir'}, 0);
    for (const entry of pkg.files) {
      const content = fileText(pool, random, entry);
      yield Buffer.concat([tarEntryHeader({path: entry.path}, content.length), content, tarPadding(content.length)]);
    }
  }
  if (spec.bigFileBytes !== undefined) {
    const content = pseudoRandomBytes(random, spec.bigFileBytes);
    yield tarEntryHeader({path: 'assets', type: 'dir'}, 0);
    yield Buffer.concat([tarEntryHeader({path: 'assets/bundle.bin'}, content.length), content, tarPadding(content.length)]);
  }
  yield tarTrailer();
}

/** `size` bytes from the seeded generator: the same release every run, and gzip cannot shrink them. */
function pseudoRandomBytes(random: () => number, size: number): Buffer {
  const content = Buffer.allocUnsafe(size);
  for (let i = 0; i + 4 <= size; i += 4) content.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), i);
  for (let i = size - (size % 4); i < size; i++) content[i] = Math.floor(random() * 256);
  return content;
}

/** Packages of ~50 files in a few subdirectories; sizes skewed like node_modules, then scaled to the total. */
function packages(random: () => number, fileCount: number, totalBytes: number): TreePackage[] {
  const perPackage = 50;
  const subdirs = ['', 'lib', 'lib/internal', 'dist', 'dist/esm', 'types'];
  const result: TreePackage[] = [];
  const all: TreeFile[] = [];
  const scopes = new Set<string>();
  for (let p = 0; all.length < fileCount; p++) {
    const root = p % 7 === 0 ? `node_modules/@scope-${p % 13}/pkg-${p}` : `node_modules/pkg-${p}`;
    const pkg: TreePackage = {dirs: [], files: []};
    if (root.includes('@') && !scopes.has(dirname(root))) {
      scopes.add(dirname(root));
      pkg.dirs.push(dirname(root));
    }
    pkg.dirs.push(root, ...subdirs.filter((d) => d !== '').map((d) => `${root}/${d}`));
    for (let i = 0; i < perPackage && all.length < fileCount; i++) {
      const dir = i <= 1 ? '' : subdirs[Math.floor(random() * subdirs.length)]!;
      const name = i === 0 ? 'package.json' : i === 1 ? 'README.md' : `${identifier(random)}-${i}${random() < 0.2 ? '.d.ts' : '.js'}`;
      const entry: TreeFile = {path: `${root}/${dir === '' ? '' : `${dir}/`}${name}`, size: skewedSize(random)};
      pkg.files.push(entry);
      all.push(entry);
    }
    result.push(pkg);
  }
  // Scale the drawn sizes so they add up to the total asked for.
  const drawn = all.reduce((sum, f) => sum + f.size, 0);
  for (const f of all) f.size = Math.max(64, Math.round((f.size * totalBytes) / drawn));
  return result;
}

/** Half the files 0.5–4 KiB, a third 4–16 KiB, an eighth 16–64 KiB, a few 64–512 KiB. */
function skewedSize(random: () => number): number {
  const r = random();
  const [low, high] = r < 0.5 ? [512, 4096] : r < 0.85 ? [4096, 16_384] : r < 0.98 ? [16_384, 65_536] : [65_536, 524_288];
  return Math.round(low + random() * (high - low));
}

/** A file's text: its path in a comment, then a slice of the pool. */
function fileText(pool: Buffer, random: () => number, entry: TreeFile): Buffer {
  const head = Buffer.from(`// ${entry.path}\n`);
  const bodySize = Math.max(0, entry.size - head.length);
  const start = Math.floor(random() * (pool.length - bodySize));
  return Buffer.concat([head, pool.subarray(start, start + bodySize)]);
}

/**
 * JavaScript-looking lines from a vocabulary of a few thousand identifiers. gzip gets about 3:1
 * on it; real node_modules trees often compress a little better (4–5:1).
 */
function sourceTextPool(random: () => number, size: number): Buffer {
  const words = Array.from({length: 3000}, () => identifier(random));
  const word = (): string => words[Math.floor(random() * words.length)]!;
  const templates: Array<() => string> = [
    () => `const ${word()} = require('./${word()}');`,
    () => `function ${word()}(${word()}, ${word()}) {`,
    () => `  if (${word()} === ${Math.floor(random() * 1000)}) return ${word()}.${word()}(${word()});`,
    () => `  ${word()}.${word()} = ${word()} + ${word()} * ${Math.floor(random() * 100)};`,
    () => `  return {${word()}: ${word()}, ${word()}: '${word()} ${word()}'};`,
    () => '}',
    () => `// ${word()} ${word()} ${word()} ${word()} the ${word()} of ${word()}`,
    () => `export const ${word()} = (${word()}) => ${word()}.map((x) => x.${word()});`,
  ];
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const line = templates[Math.floor(random() * templates.length)]!();
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`).subarray(0, size);
}

function identifier(random: () => number): string {
  const syllables = ['get', 'set', 'on', 're', 'parse', 'to', 'is', 'has', 'el', 'node', 'val', 'key', 'map', 'opt', 'cb', 'buf', 'str', 'len', 'idx', 'err'];
  const count = 1 + Math.floor(random() * 3);
  let name = '';
  for (let i = 0; i < count; i++) {
    const s = syllables[Math.floor(random() * syllables.length)]!;
    name += i === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
  }
  return `${name}${Math.floor(random() * 100)}`;
}

/** A small seeded PRNG: the same spec always gives the same bytes. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type EntryKind = 'files' | 'directories' | 'symlinks' | 'hardlinks';

export interface EntriesReleaseSpec {
  app?: string; // default 'demo-app'
  version: string;
  kind: EntryKind;
  /** Entries of that kind, 1,000 to a directory `d<n>/` (listed once each, before its entries). */
  count: number;
}

/**
 * A release of `count` entries of one kind, for timing the per-entry work of staging: empty-ish
 * files (`f<i>`, a few bytes each), directories, symlinks to `../release.json`, or hardlinks to
 * one file per directory (1,000 names per inode, under ext4's limit of 65,000). Streamed.
 */
export async function buildEntriesRelease(outDir: string, spec: EntriesReleaseSpec): Promise<BuiltRelease> {
  const app = spec.app ?? 'demo-app';
  const manifest: ReleaseManifest = {app, version: spec.version, migration: null, breaking: [], notes: `Benchmark release ${spec.version}`};
  const file = releaseArtifactPath(outDir, app, spec.version);
  await mkdir(dirname(file), {recursive: true});
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.from(entriesTarChunks(spec, manifest)), createGzip({level: 6}), hashing, createWriteStream(file));
  const {size} = await stat(file);
  return {app, version: spec.version, file, sha256: hash.digest('hex'), size, manifest};
}

function* entriesTarChunks(spec: EntriesReleaseSpec, manifest: ReleaseManifest): Generator<Buffer> {
  const fileEntry = (path: string, text: string): Buffer => {
    const content = Buffer.from(text);
    return Buffer.concat([tarEntryHeader({path}, content.length), content, tarPadding(content.length)]);
  };
  yield fileEntry('release.json', `${JSON.stringify(manifest, null, 2)}\n`);
  const perDir = 1000;
  for (let first = 0; first < spec.count; first += perDir) {
    const dir = `d${first / perDir}`;
    const batch: Buffer[] = [tarEntryHeader({path: dir, type: 'dir'}, 0)];
    if (spec.kind === 'hardlinks') batch.push(fileEntry(`${dir}/target`, 'the inode every hardlink here names\n'));
    for (let i = first; i < Math.min(first + perDir, spec.count); i++) {
      if (spec.kind === 'files') batch.push(fileEntry(`${dir}/f${i}`, `${i}\n`));
      else if (spec.kind === 'directories') batch.push(tarEntryHeader({path: `${dir}/s${i}`, type: 'dir'}, 0));
      else if (spec.kind === 'symlinks') batch.push(tarEntryHeader({path: `${dir}/l${i}`, type: 'symlink', linkpath: '../release.json'}, 0));
      else batch.push(tarEntryHeader({path: `${dir}/h${i}`, type: 'hardlink', linkpath: `${dir}/target`}, 0));
    }
    yield Buffer.concat(batch);
  }
  yield tarTrailer();
}
