import {randomBytes} from 'node:crypto';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gzipSync} from 'node:zlib';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {VerificationError} from '../../src/core/errors.js';
import {checkSameManifest, parseManifest, readManifestFromArtifact, releasePath} from '../../src/core/release-manifest.js';
import {tarBytes, writeTgz} from '../fixtures/tar-writer.js';

const manifest = {app: 'app', version: '1.4.0', migration: {command: 'pnpm db:migrate:deploy'}, breaking: ['x'], notes: 'n'};

describe('release.json from a verified artifact', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parako-manifest-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  it('is found wherever it is in the archive, with ./ or without', async () => {
    const file = join(dir, 'a.tgz');
    await writeTgz(file, [{path: 'bin/server.js', content: 'x'}, {path: './release.json', content: JSON.stringify(manifest)}]);
    await expect(readManifestFromArtifact(file)).resolves.toMatchObject({version: '1.4.0', migration: {command: 'pnpm db:migrate:deploy'}, breaking: ['x']});
  });

  it('is read without inflating the rest: bytes after it are never looked at', async () => {
    // release.json first, then 1 MiB that does not compress, then a tail that is not gzip at all:
    // reading the whole archive would fail on the tail.
    const archive = tarBytes([{path: 'release.json', content: JSON.stringify(manifest)}, {path: 'big', content: randomBytes(1024 * 1024)}]);
    const file = join(dir, 'b.tgz');
    await writeFile(file, Buffer.concat([gzipSync(archive), Buffer.from('this is not gzip data'.repeat(100))]));
    await expect(readManifestFromArtifact(file)).resolves.toMatchObject({app: 'app', version: '1.4.0'});
  });

  it('is required, must be JSON of the right shape, and a nested one does not count', async () => {
    const missing = join(dir, 'c.tgz');
    await writeTgz(missing, [{path: 'sub/release.json', content: JSON.stringify(manifest)}]);
    await expect(readManifestFromArtifact(missing)).rejects.toThrow(/no release.json at its root/);
    const broken = join(dir, 'd.tgz');
    await writeTgz(broken, [{path: 'release.json', content: '{"app": '}]);
    await expect(readManifestFromArtifact(broken)).rejects.toThrow(VerificationError);
    const shape = join(dir, 'e.tgz');
    await writeTgz(shape, [{path: 'release.json', content: JSON.stringify({app: 'app'})}]);
    await expect(readManifestFromArtifact(shape)).rejects.toThrow(/version/);
  });

  it('the one read first is release.json however the archive spells its path', async () => {
    for (const path of ['release.json', './release.json', '././release.json', './/release.json']) {
      const file = join(dir, `spelled-${Math.random()}.tgz`);
      await writeTgz(file, [{path, content: JSON.stringify(manifest)}]);
      await expect(readManifestFromArtifact(file), path).resolves.toMatchObject({version: '1.4.0'});
    }
  });
});

describe('where an archive entry lands', () => {
  it('is one name for ./a, a, a/ and a//b/.', () => {
    expect(releasePath('./a')).toBe('a');
    expect(releasePath('a/')).toBe('a');
    expect(releasePath('././a//b/./')).toBe('a/b');
    expect(releasePath('a//b/.')).toBe('a/b');
    expect(releasePath('./')).toBe('.');
    expect(releasePath('.')).toBe('.');
  });
});

describe('the release.json that runs is the one that was shown', () => {
  const shown = parseManifest(JSON.stringify({app: 'app', version: '1.4.0'}), 'test');

  it('passes for the same fields, however the JSON was written', () => {
    expect(() => checkSameManifest(shown, parseManifest('{"version": "1.4.0", "app": "app", "migration": null}', 'test'), 'the staged release')).not.toThrow();
  });

  it('refuses one that declares a migration the shown one did not', () => {
    const staged = parseManifest(JSON.stringify({...manifest, breaking: [], notes: ''}), 'test');
    expect(() => checkSameManifest(shown, staged, 'the staged release')).toThrow(VerificationError);
    expect(() => checkSameManifest(shown, staged, 'the staged release')).toThrow(/^the staged release: release\.json differs from the one read from the verified artifact before staging$/);
  });
});
