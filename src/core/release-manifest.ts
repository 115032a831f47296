import {createReadStream} from 'node:fs';
import {lstat, open, readFile} from 'node:fs/promises';
import {join, posix} from 'node:path';
import {isDeepStrictEqual} from 'node:util';
import type {ReadEntry} from 'tar';
import {z} from 'zod';

import type {ReleaseManifest} from '../sdk/contract.js';
import {VerificationError} from './errors.js';

export const MANIFEST_FILE = 'release.json';
const MAX_MANIFEST_BYTES = 1024 * 1024;

const releaseManifestSchema = z.object({
  app: z.string().min(1),
  version: z.string().min(1),
  migration: z
    .object({command: z.string().min(1), reverse: z.string().min(1).optional()})
    .nullable()
    .optional()
    .transform((m) => m ?? null),
  breaking: z.array(z.string()).optional().default([]),
  notes: z.string().optional().default(''),
});

/** `release.json` at the root of a release: covered by the signature, so trusted once verified. */
export type {ReleaseManifest} from '../sdk/contract.js';
// The schema's output is the SDK's type: a change to either fails to compile here.
const manifestMatchesSdk: (manifest: z.output<typeof releaseManifestSchema>) => ReleaseManifest = (manifest) => manifest;
void manifestMatchesSdk;

export function parseManifest(text: string, where: string): ReleaseManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new VerificationError(`${where}: release.json is not valid JSON (${(error as Error).message})`, {
      next: 'the signed release is malformed: tell the publisher; nothing was installed',
    });
  }
  const result = releaseManifestSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new VerificationError(`${where}: release.json is malformed: ${issues.join('; ')}`, {
      next: 'the signed release is malformed: tell the publisher; nothing was installed',
    });
  }
  return result.data;
}

/**
 * The version binding: a release must say it is the app and version that was asked for, so
 * an old signed artifact served under a new name is refused.
 */
export function checkManifestBinding(manifest: ReleaseManifest, app: string, version: string, where: string): void {
  if (manifest.app !== app) {
    throw new VerificationError(`${where}: release.json is for app "${manifest.app}", expected "${app}"`, {
      next: 'the feed serves another app\'s release under this name: tell the publisher; nothing was installed',
    });
  }
  if (manifest.version.replace(/^v/, '') !== version) {
    throw new VerificationError(`${where}: release.json says version ${manifest.version}, but ${version} was asked for`, {
      next: 'an artifact is served under a version it is not (a replayed old release?): tell the publisher; nothing was installed',
    });
  }
}

/**
 * The release.json that runs is the one that was shown (in the dry run's plan, at the
 * breaking-changes prompt) and decided on. An archive holding it twice is refused when staged,
 * so this holds by construction for a new release dir; a retained one that was staged from
 * another artifact of the same version is where it can fail.
 */
export function checkSameManifest(shown: ReleaseManifest, staged: ReleaseManifest, where: string): void {
  if (isDeepStrictEqual(shown, staged)) return;
  throw new VerificationError(`${where}: release.json differs from the one read from the verified artifact before staging`, {
    next: 'the feed serves another artifact under this version than the one installed before: tell the publisher; nothing was installed',
  });
}

/**
 * Reads release.json from a verified artifact without extracting anything else. Publishers
 * put it first, so reading stops as soon as it is found instead of inflating the whole
 * archive (most of a second for a large release). A second release.json further on is not
 * looked for here: staging refuses any path stored twice (and the dry run checks every entry
 * the same way), so the one read here is the only one that can ever be installed.
 */
export async function readManifestFromArtifact(artifact: string): Promise<ReleaseManifest> {
  await refuseNonGzip(artifact);
  // tar is loaded here, not at start-up: releases and status read manifests from disk only.
  const {Parser} = await import('tar');
  const source = createReadStream(artifact);
  const found = await new Promise<{text?: string; tooBig?: boolean; notTar?: string}>((resolve, reject) => {
    const parser = new Parser({
      // node-tar only warns about a stream that is no tar archive, and then ends as if empty.
      onwarn: (code, message) => {
        if (code === 'TAR_BAD_ARCHIVE') resolve({notTar: String(message)});
      },
      filter: (path) => isManifestPath(path),
      onReadEntry: (entry: ReadEntry) => {
        if (entry.type !== 'File' && entry.type !== 'OldFile') return entry.resume();
        if (entry.size > MAX_MANIFEST_BYTES) {
          resolve({tooBig: true});
          return entry.resume();
        }
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => resolve({text: Buffer.concat(chunks).toString('utf8')}));
      },
    });
    parser.on('error', reject);
    parser.on('end', () => resolve({}));
    source.on('error', reject);
    source.pipe(parser);
  }).finally(() => source.destroy());
  if (found.notTar !== undefined) {
    throw new VerificationError(`the artifact is not a gzip tarball (${found.notTar}); nothing was installed`, {
      next: 'the signed release is corrupt or not a gzip tarball: tell the publisher',
    });
  }
  if (found.tooBig === true) throw new VerificationError(`release.json in ${artifact} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  if (found.text === undefined) {
    throw new VerificationError(`the artifact has no release.json at its root`, {
      next: 'the signed release is malformed: tell the publisher; nothing was installed',
    });
  }
  return parseManifest(found.text, 'the artifact');
}

/** Reads release.json from an extracted release directory; it must be a regular file. */
export async function readManifestFromDir(dir: string): Promise<ReleaseManifest> {
  const file = join(dir, MANIFEST_FILE);
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VerificationError(`the release has no release.json at its root`, {
        next: 'the signed release is malformed: tell the publisher; nothing was installed',
      });
    }
    throw error;
  }
  if (!info.isFile()) throw new VerificationError(`release.json in the release is not a regular file`);
  if (info.size > MAX_MANIFEST_BYTES) throw new VerificationError(`release.json is larger than ${MAX_MANIFEST_BYTES} bytes`);
  return parseManifest(await readFile(file, 'utf8'), 'the release');
}

/**
 * Where an archive entry lands, relative to the release root: `./a`, `a`, `a/` and `a//b/.`
 * name the same file once extracted, so they must compare equal. The root itself is ".".
 */
export function releasePath(entryPath: string): string {
  return posix.normalize(entryPath).replace(/\/+$/, '') || '.';
}

function isManifestPath(path: string): boolean {
  return releasePath(path) === MANIFEST_FILE;
}

/** architecture.md §7: the artifact is a gzip tarball; anything else would be read as a raw tar. */
async function refuseNonGzip(artifact: string): Promise<void> {
  const handle = await open(artifact, 'r');
  try {
    const {buffer, bytesRead} = await handle.read(Buffer.alloc(2), 0, 2, 0);
    if (bytesRead < 2 || buffer[0] !== 0x1f || buffer[1] !== 0x8b) {
      throw new VerificationError('the artifact is not a gzip tarball (no gzip header); nothing was installed', {
        next: 'the signed release is corrupt or not a gzip tarball: tell the publisher',
      });
    }
  } finally {
    await handle.close();
  }
}
