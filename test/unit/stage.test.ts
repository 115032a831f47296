import {existsSync} from 'node:fs';
import {lstat, mkdtemp, readdir, readlink, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gzipSync} from 'node:zlib';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {InterruptedError, UnsafeArchiveError, VerificationError} from '../../src/core/errors.js';
import {Layout} from '../../src/core/layout.js';
import {parseManifest, type ReleaseManifest} from '../../src/core/release-manifest.js';
import {checkArchive, DEFAULT_LIMITS, stageRelease, type StageLimits} from '../../src/core/stage.js';
import {type TarEntry, tarBytes, tgzBytes, writeTgz} from '../fixtures/tar-writer.js';

const manifestText = JSON.stringify({app: 'app', version: '1.0.0'});
const manifest: TarEntry = {path: 'release.json', content: manifestText};
/** What the pre-stage read of `manifest` gives: the release.json the plan and the prompt show. */
const shown = parseManifest(manifestText, 'test');

describe('staging a verified artifact', () => {
  let root: string;
  let layout: Layout;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-stage-'));
    layout = new Layout(join(root, 'install'));
  });
  afterEach(async () => {
    await rm(root, {recursive: true, force: true});
  });

  async function stage(entries: TarEntry[], opts: {limits?: StageLimits; signal?: AbortSignal; shown?: ReleaseManifest} = {}) {
    const artifact = join(root, `a-${Math.random()}.tgz`);
    await writeTgz(artifact, entries);
    return stageRelease({layout, artifact, app: 'app', version: '1.0.0', limits: opts.limits ?? DEFAULT_LIMITS, shown: opts.shown ?? shown, signal: opts.signal});
  }

  async function releasesDirIsEmpty(): Promise<boolean> {
    return (await readdir(layout.releasesDir).catch(() => [])).length === 0;
  }

  it('extracts into releases/v<ver> and leaves no staging dir', async () => {
    const staged = await stage([manifest, {path: 'bin', type: 'dir'}, {path: 'bin/server.js', content: 'ok', mode: 0o755}, {path: 'lib', type: 'symlink', linkpath: 'bin'}]);
    expect(staged.path).toBe(layout.releaseDir('1.0.0'));
    expect(await readdir(layout.releasesDir)).toEqual(['v1.0.0']);
    expect((await stat(join(staged.path, 'bin/server.js'))).mode & 0o777).toBe(0o755);
  });

  it('drops setuid, setgid and sticky bits', async () => {
    const staged = await stage([manifest, {path: 'suid', content: 'x', mode: 0o6755}]);
    expect((await stat(join(staged.path, 'suid'))).mode & 0o7777).toBe(0o755);
  });

  const hostile: Array<[string, TarEntry[], RegExp]> = [
    ['a path with ..', [{path: 'a/../../evil', content: 'x'}], /"\.\."/],
    ['an absolute path', [{path: '/tmp/parako-evil-abs', content: 'x'}], /absolute path/],
    ['a symlink out of the release', [{path: 'out', type: 'symlink', linkpath: '../../etc'}], /resolves outside/],
    ['an absolute symlink', [{path: 'out', type: 'symlink', linkpath: '/etc/passwd'}], /absolute path/],
    ['a hardlink out of the release', [{path: 'hl', type: 'hardlink', linkpath: '../outside'}], /outside|\.\./],
    ['a character device', [{path: 'dev', type: 'char', devmajor: 1, devminor: 3}], /CharacterDevice/],
    ['a fifo', [{path: 'fifo', type: 'fifo'}], /FIFO/],
    ['a file written through a symlink', [{path: 'l', type: 'symlink', linkpath: '.'}, {path: 'l/x', content: 'x'}], /through or over a symlink/],
    ['a chain of symlinks that leads out', [{path: 'a', type: 'dir'}, {path: 'a/b', type: 'symlink', linkpath: '..'}, {path: 'u1', type: 'symlink', linkpath: 'a/b/..'}], /resolves outside/],
  ];

  for (const [name, entries, message] of hostile) {
    it(`refuses ${name} and removes its staging dir`, async () => {
      const error = await stage([manifest, ...entries]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeArchiveError);
      expect((error as Error).message).toMatch(message);
      expect(await releasesDirIsEmpty()).toBe(true);
      await expect(lstat('/tmp/parako-evil-abs')).rejects.toThrow();
    });
  }

  const twice: Array<[string, TarEntry[]]> = [
    ['release.json twice, the second declaring a migration', [{path: 'release.json', content: JSON.stringify({app: 'app', version: '1.0.0', migration: {command: 'touch /tmp/parako-evil-migration'}})}]],
    ['./release.json after release.json', [{path: './release.json', content: manifestText}]],
    ['a file twice', [{path: 'x', content: '1'}, {path: 'x', content: '2'}]],
    ['a directory twice, as d/ and ./d/', [{path: 'd', type: 'dir'}, {path: './d', type: 'dir'}]],
    ['a file, then a directory at its path', [{path: 'x', content: '1'}, {path: 'x', type: 'dir'}]],
    ['a file, then a hardlink over it', [{path: 'x', content: '1'}, {path: 'x', type: 'hardlink', linkpath: 'release.json'}]],
  ];

  for (const [name, entries] of twice) {
    it(`refuses ${name}, staged or checked for a dry run, and installs nothing`, async () => {
      const error = await stage([manifest, ...entries]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeArchiveError);
      expect((error as Error).message).toMatch(/^unsafe archive: a path stored twice \(".+"\); nothing was installed$/);
      expect(await releasesDirIsEmpty()).toBe(true);
      const artifact = join(root, 'dry-run.tgz');
      await writeTgz(artifact, [manifest, ...entries]);
      await expect(checkArchive(artifact, DEFAULT_LIMITS)).rejects.toThrow(/a path stored twice/);
    });
  }

  // release-writer.ts makes each directory once and remembers it; these are the orders and
  // shapes that would trip a writer that trusted its memory more than the disk.
  it('writes directories listed after their contents, implicit parents, hardlinks and mtimes as the archive has them', async () => {
    const mtime = new Date('2024-05-06T07:08:09Z');
    const staged = await stage([
      manifest,
      {path: 'a/b/c/file.js', content: 'deep', mtime},
      {path: 'a/b', type: 'dir'},
      {path: 'a', type: 'dir'},
      {path: 'a/b/hard.js', type: 'hardlink', linkpath: 'a/b/c/file.js'},
      {path: 'x/y/link', type: 'symlink', linkpath: '../../a/b/c/file.js'},
      {path: 'empty.txt', content: ''},
    ]);
    const file = await stat(join(staged.path, 'a/b/c/file.js'));
    expect(file.mtime.toISOString()).toBe(mtime.toISOString());
    expect(file.nlink).toBe(2);
    expect((await stat(join(staged.path, 'a/b/hard.js'))).ino).toBe(file.ino);
    expect(await readlink(join(staged.path, 'x/y/link'))).toBe('../../a/b/c/file.js');
    expect((await stat(join(staged.path, 'empty.txt'))).size).toBe(0);
    for (const dir of ['a', 'a/b', 'a/b/c', 'x', 'x/y']) expect((await stat(join(staged.path, dir))).mode & 0o777).toBe(0o755);
  });

  it('refuses a file used as the parent of a later entry, and a later file at an implicit directory, installing nothing', async () => {
    const parentIsFile = await stage([manifest, {path: 'f', content: 'x'}, {path: 'f/g.js', content: 'y'}]).catch((e: unknown) => e);
    expect(parentIsFile).toBeInstanceOf(UnsafeArchiveError);
    expect((parentIsFile as Error).message).toMatch(/^unsafe archive: f is in the archive both as a directory and as a file \(f\); nothing was installed$/);
    expect(await releasesDirIsEmpty()).toBe(true);
    const fileAtDir = await stage([manifest, {path: 'd/e.js', content: 'x'}, {path: 'd', content: 'y'}]).catch((e: unknown) => e);
    expect(fileAtDir).toBeInstanceOf(UnsafeArchiveError);
    expect((fileAtDir as Error).message).toMatch(/EEXIST/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('refuses an entry under a symlink stored earlier however deep, and only then', async () => {
    const under = await stage([manifest, {path: 'lib', type: 'dir'}, {path: 'lib/a', type: 'symlink', linkpath: '.'}, {path: 'lib/a/b/c/d/e/f.js', content: 'x'}]).catch((e: unknown) => e);
    expect((under as Error).message).toMatch(/an entry written through or over a symlink \("lib\/a\/b\/c\/d\/e\/f\.js"\)/);
    const hardlink = await stage([manifest, {path: 'l', type: 'symlink', linkpath: '.'}, {path: 'h', type: 'hardlink', linkpath: 'l/release.json'}]).catch((e: unknown) => e);
    expect((hardlink as Error).message).toMatch(/a hardlink through a symlink \(-> l\/release\.json\)/);
    expect(await releasesDirIsEmpty()).toBe(true);
    // Many links, and paths that share a link's name as a prefix without being under it.
    const links: TarEntry[] = Array.from({length: 500}, (_, i) => ({path: `links/l${i}`, type: 'symlink', linkpath: '../target'}));
    const beside: TarEntry[] = Array.from({length: 100}, (_, i) => ({path: `links/l${i}x/deep/${'d/'.repeat(i % 20)}file.js`, content: 'x'}));
    const staged = await stage([manifest, {path: 'target', type: 'dir'}, ...links, ...beside]);
    expect(await readlink(join(staged.path, 'links/l499'))).toBe('../target');
    expect((await stat(join(staged.path, `links/l99x/deep/${'d/'.repeat(99 % 20)}file.js`))).isFile()).toBe(true);
  });

  describe('modes do not follow the umask', () => {
    let saved: number;
    beforeEach(() => {
      saved = process.umask();
    });
    afterEach(() => {
      process.umask(saved);
    });

    const entries: TarEntry[] = [
      manifest,
      {path: 'rwx-all', content: 'x', mode: 0o777},
      {path: 'rw-all', content: 'x', mode: 0o666},
      {path: 'suid', content: 'x', mode: 0o6755},
      {path: 'owner-x-only', content: 'x', mode: 0o700},
      {path: 'private', content: 'x', mode: 0o600},
      {path: 'open', type: 'dir', mode: 0o777},
      {path: 'sticky', type: 'dir', mode: 0o1777},
      {path: 'implicit/parent/file', content: 'x', mode: 0o644},
    ];
    const expected: Record<string, number> = {
      '.': 0o755, 'rwx-all': 0o755, 'rw-all': 0o644, suid: 0o755, 'owner-x-only': 0o755, private: 0o644,
      open: 0o755, sticky: 0o755, implicit: 0o755, 'implicit/parent': 0o755, 'implicit/parent/file': 0o644,
    };

    for (const umask of [0o000, 0o077]) {
      it(`umask ${umask.toString(8).padStart(3, '0')}: files 0644 or 0755, directories 0755`, async () => {
        process.umask(umask);
        const staged = await stage(entries);
        const modes: Record<string, number> = {};
        for (const path of Object.keys(expected)) modes[path] = (await stat(join(staged.path, path))).mode & 0o7777;
        expect(modes).toEqual(expected);
        expect(process.umask()).toBe(umask);
      });
    }
  });

  it('stops when signalled during the extraction and removes what it wrote', async () => {
    // 5,000 files take far longer to write than the 20 ms between two looks at the signal.
    const files: TarEntry[] = Array.from({length: 5000}, (_, i) => ({path: `data/f${i}`, content: `${i}\n`}));
    const artifact = join(root, 'many.tgz');
    await writeTgz(artifact, [manifest, ...files]);
    let stagingDir = '';
    let lastWrittenWhenSignalled: boolean | undefined;
    // Aborted once the extraction has begun (data/f10 is on disk); notes whether it had already ended.
    const signal = {get aborted() {
      if (stagingDir === '' || !existsSync(join(stagingDir, 'data/f10'))) return false;
      lastWrittenWhenSignalled ??= existsSync(join(stagingDir, 'data/f4999'));
      return true;
    }} as AbortSignal;
    const error = await stageRelease({
      layout, artifact, app: 'app', version: '1.0.0', limits: DEFAULT_LIMITS, shown, signal,
      onStagingDir: async (path) => {
        stagingDir = path;
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect((error as Error).message).toBe('staging v1.0.0 interrupted; the staging dir was removed');
    expect(lastWrittenWhenSignalled, 'the extraction had already ended when the signal was seen').toBe(false);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('stops a decompression bomb at the byte cap before writing it', async () => {
    const error = await stage([manifest, {path: 'big', content: Buffer.alloc(1024 * 1024)}], {limits: {maxExtractedBytes: 64 * 1024, maxEntries: 100}}).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/more than 65536 bytes/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('refuses a gzip stream inside the gzip stream instead of inflating it twice', async () => {
    const artifact = join(root, 'double.tgz');
    await writeFile(artifact, gzipSync(tgzBytes([manifest, {path: 'a', content: 'x'}])));
    const error = await stageRelease({layout, artifact, app: 'app', version: '1.0.0', limits: DEFAULT_LIMITS, shown}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect((error as Error).message).toMatch(/a gzip stream inside the gzip stream/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('stops a release that inflates more than 1000 times its size, as node-tar would', async () => {
    // 64 MiB of zeros deflates about 1030:1, under the byte cap but over the ratio.
    const error = await stage([manifest, {path: 'zeros', content: Buffer.alloc(64 * 1024 * 1024)}]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect((error as Error).message).toMatch(/inflates more than 1000 times its size/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('says a corrupt gzip stream cannot be extracted, and installs nothing', async () => {
    const artifact = join(root, 'corrupt.tgz');
    const good = gzipSync(tarBytes([manifest, {path: 'a', content: 'y'.repeat(100_000)}]));
    good.fill(0x55, 40, 80);
    await writeFile(artifact, good);
    const error = await stageRelease({layout, artifact, app: 'app', version: '1.0.0', limits: DEFAULT_LIMITS, shown}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect((error as Error).message).toMatch(/^the artifact cannot be extracted: .*; nothing was installed$/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('stops an archive with too many entries', async () => {
    const many = Array.from({length: 20}, (_, i) => ({path: `f${i}`, content: 'x'}));
    const error = await stage([manifest, ...many], {limits: {maxExtractedBytes: DEFAULT_LIMITS.maxExtractedBytes, maxEntries: 10}}).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/more than 10 entries/);
  });

  it('refuses a release.json that is missing or names another version or app', async () => {
    await expect(stage([{path: 'x', content: 'x'}])).rejects.toThrow(/no release.json/);
    await expect(stage([{path: 'release.json', content: JSON.stringify({app: 'app', version: '9.9.9'})}])).rejects.toThrow(/says version 9\.9\.9/);
    await expect(stage([{path: 'release.json', content: JSON.stringify({app: 'other', version: '1.0.0'})}])).rejects.toThrow(VerificationError);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('reuses a complete release dir of the same version', async () => {
    await stage([manifest, {path: 'a', content: '1'}]);
    const again = await stage([manifest, {path: 'b', content: '2'}]);
    expect(again.reused).toBe(true);
    expect(await readdir(again.path)).toEqual(['a', 'release.json']);
  });

  it('refuses a retained release whose release.json is not the one shown', async () => {
    const migrating = JSON.stringify({app: 'app', version: '1.0.0', migration: {command: 'db:migrate'}});
    await stage([{path: 'release.json', content: migrating}], {shown: parseManifest(migrating, 'test')});
    await expect(stage([manifest])).rejects.toThrow(/retained v1\.0\.0: release\.json differs from the one read from the verified artifact before staging/);
  });
});
