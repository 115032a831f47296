import {lstat, mkdtemp, readdir, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {UnsafeArchiveError, VerificationError} from '../../src/core/errors.js';
import {Layout} from '../../src/core/layout.js';
import {DEFAULT_LIMITS, stageRelease, type StageLimits} from '../../src/core/stage.js';
import {type TarEntry, writeTgz} from '../fixtures/tar-writer.js';

const manifest: TarEntry = {path: 'release.json', content: JSON.stringify({app: 'app', version: '1.0.0'})};

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

  async function stage(entries: TarEntry[], limits: StageLimits = DEFAULT_LIMITS) {
    const artifact = join(root, `a-${Math.random()}.tgz`);
    await writeTgz(artifact, entries);
    return stageRelease({layout, artifact, app: 'app', version: '1.0.0', limits});
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

  it('stops a decompression bomb at the byte cap before writing it', async () => {
    const error = await stage([manifest, {path: 'big', content: Buffer.alloc(1024 * 1024)}], {maxExtractedBytes: 64 * 1024, maxEntries: 100}).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/more than 65536 bytes/);
    expect(await releasesDirIsEmpty()).toBe(true);
  });

  it('stops an archive with too many entries', async () => {
    const many = Array.from({length: 20}, (_, i) => ({path: `f${i}`, content: 'x'}));
    const error = await stage([manifest, ...many], {maxExtractedBytes: DEFAULT_LIMITS.maxExtractedBytes, maxEntries: 10}).catch((e: unknown) => e);
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
});
