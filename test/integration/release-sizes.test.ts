/**
 * `status` and `releases` show a retained release's size and file count as recorded when it was
 * staged (`.parako/releases/v<ver>.json`), without walking the release tree; prune removes the
 * record with the release, and a release without one shows its size as unknown.
 */
import {readdir, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {SignedWorld} from '../fixtures/signed-world.js';
import {expectExit, exists, jsonOf, parako, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();

const LIB_FILES: Record<string, string> = {'lib/a.js': 'a'.repeat(1000), 'lib/b/c.js': 'c'.repeat(2345), 'lib/b/d.json': '{}'};

async function installed(keepReleases = 3, ...versions: string[]): Promise<SignedWorld> {
  const world = await worlds.make();
  await world.writeConfig({keepReleases});
  for (const version of versions) {
    await world.publish({version, files: LIB_FILES});
    expectExit(await parako(world, ['update', '--version', version]), 0);
  }
  return world;
}

/** Bytes and count of the files under `root`, walked here the way status used to. */
async function walked(root: string): Promise<{bytes: number; files: number}> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(root, {withFileTypes: true, recursive: true})) {
    if (entry.isDirectory()) continue;
    files += 1;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return {bytes, files};
}

type Retained = {version: string; bytes: number | null; files: number | null};

async function statusRetained(world: SignedWorld): Promise<Retained[]> {
  const result = await parako(world, ['status', '--json']);
  expectExit(result, 0);
  return (jsonOf(result).status as {retained: Retained[]}).retained;
}

async function releasesRows(world: SignedWorld): Promise<Retained[]> {
  const result = await parako(world, ['releases', '--json']);
  expectExit(result, 0);
  return jsonOf(result).releases as Retained[];
}

describe('the size of a retained release', () => {
  it('status and releases show the bytes and files recorded when the release was staged', async () => {
    const world = await installed(3, '1.0.0');
    const release = join(world.dir, 'releases', 'v1.0.0');
    const expected = await walked(release);
    // release.json, server.js, VERSION and the three under lib/.
    expect(expected.files).toBe(6);
    expect(JSON.parse(await readFile(join(world.dir, '.parako', 'releases', 'v1.0.0.json'), 'utf8'))).toEqual({version: '1.0.0', ...expected});
    expect(await statusRetained(world)).toMatchObject([{version: '1.0.0', ...expected}]);
    expect(await releasesRows(world)).toMatchObject([{version: '1.0.0', retained: true, ...expected}]);
    const text = await parako(world, ['status']);
    expect(text.stdout).toMatch(new RegExp(`v1\\.0\\.0 +[\\d.]+ KiB in 6 files`));
  });

  it('status reads the record and never the tree: a file added to the release does not change what it shows', async () => {
    const world = await installed(3, '1.0.0');
    const release = join(world.dir, 'releases', 'v1.0.0');
    const recorded = await walked(release);
    await writeFile(join(release, 'added-by-hand.bin'), Buffer.alloc(3 * 1024 * 1024));
    expect(await statusRetained(world)).toMatchObject([{version: '1.0.0', bytes: recorded.bytes, files: recorded.files}]);
    expect(await releasesRows(world)).toMatchObject([{version: '1.0.0', bytes: recorded.bytes, files: recorded.files}]);
  });

  it('a release without a record (staged by an older parako) shows its size as unknown, and the next update records only what it staged', async () => {
    const world = await installed(3, '1.0.0');
    await rm(join(world.dir, '.parako', 'releases', 'v1.0.0.json'));
    expect(await statusRetained(world)).toMatchObject([{version: '1.0.0', bytes: null, files: null}]);
    expect(await releasesRows(world)).toMatchObject([{version: '1.0.0', bytes: null, files: null}]);
    expect((await parako(world, ['status'])).stdout).toMatch(/v1\.0\.0 +size unknown {2}\d{4}-/);
    await world.publish({version: '1.1.0', files: LIB_FILES});
    expectExit(await parako(world, ['update']), 0);
    const retained = await statusRetained(world);
    expect(retained.map((r) => [r.version, r.files])).toEqual([
      ['1.1.0', 6],
      ['1.0.0', null],
    ]);
  });

  it('prune removes the record with its release, and records of releases that are gone', async () => {
    const world = await installed(3, '1.0.0', '1.1.0', '1.2.0');
    const records = join(world.dir, '.parako', 'releases');
    expect((await readdir(records)).sort()).toEqual(['v1.0.0.json', 'v1.1.0.json', 'v1.2.0.json']);
    // Left by a record write that was killed, and by a release deleted by hand.
    await writeFile(join(records, 'v1.1.0.json.tmp-99999'), '{');
    await writeFile(join(records, 'v0.9.0.json'), '{"version":"0.9.0","bytes":1,"files":1}');
    const pruned = await parako(world, ['prune', '--keep', '2', '--json']);
    expectExit(pruned, 0);
    expect(jsonOf(pruned)).toMatchObject({pruned: ['1.0.0']});
    expect(await exists(join(world.dir, 'releases', 'v1.0.0'))).toBe(false);
    expect((await readdir(records)).sort()).toEqual(['v1.1.0.json', 'v1.2.0.json']);
    expect((await statusRetained(world)).map((r) => [r.version, r.files])).toEqual([
      ['1.2.0', 6],
      ['1.1.0', 6],
    ]);
  });
});
