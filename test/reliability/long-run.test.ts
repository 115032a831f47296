/**
 * Reliability: a long life of an install (architecture.md §2, §3 step 12). A hundred cycles of
 * `parako update` to a newly published version and `parako rollback` must never touch the
 * operator's runtime/ (byte-identical at the end: contents, modes, mtimes, link targets),
 * must keep `current` pointing at a complete release after every command, add one history
 * line per command, and prune so that releases/ ends with exactly keepReleases entries.
 */
import {randomBytes} from 'node:crypto';
import {chmod, lutimes, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {demoServerJs} from '../fixtures/release.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {diffTrees, snapshotTree} from '../fixtures/tree.js';
import {exists, expectExit, history, parako, releaseEntries, useInstalledWorlds} from '../integration/helpers.js';

const worlds = useInstalledWorlds();

const CYCLES = 100;
const KEEP_RELEASES = 3;
/**
 * 200 CLI runs of about 0.5 s each: measured 190–205 s on 2 cores (Node 20) with the machine
 * busy running other tests, as CI's two workers will be. A hung run is killed after 60 s by
 * runParako; this only bounds the whole, with room for a slower runner.
 */
const TIMEOUT_MS = 8 * 60_000;

/** An old, fixed time for runtime/ entries: any write, chmod or touch by parako would move it. */
const OPERATOR_TIME = new Date('2024-03-01T12:00:00Z');

/** What an operator keeps in runtime/: a database, secrets, a subdir, symlinks (one into current). */
async function makeRuntime(dir: string): Promise<void> {
  const runtime = join(dir, 'runtime');
  await mkdir(join(runtime, 'data', 'uploads'), {recursive: true});
  await writeFile(join(runtime, 'data', 'app.db'), randomBytes(256 * 1024));
  await writeFile(join(runtime, 'data', 'uploads', 'avatar.png'), randomBytes(4096));
  await writeFile(join(runtime, '.env'), 'DATABASE_URL=file:./data/app.db\nSECRET=not-for-parako\n', {mode: 0o600});
  await chmod(join(runtime, '.env'), 0o600);
  await chmod(join(runtime, 'data'), 0o700);
  await symlink('data/app.db', join(runtime, 'db'));
  // Points through `current`, whose target parako changes 200 times; the link itself must not change.
  await symlink('../current/server.js', join(runtime, 'server.js'));
  for (const path of ['data/uploads/avatar.png', 'data/uploads', 'data/app.db', 'data', '.env']) {
    await utimes(join(runtime, path), OPERATOR_TIME, OPERATOR_TIME);
  }
  for (const link of ['db', 'server.js']) await lutimes(join(runtime, link), OPERATOR_TIME, OPERATOR_TIME);
  await utimes(runtime, OPERATOR_TIME, OPERATOR_TIME);
}

/** `current` is a relative link to releases/v<version>, and that dir holds exactly what v<version> was published with. */
async function expectCurrentComplete(world: SignedWorld, version: string, when: string): Promise<void> {
  expect(await readlink(join(world.dir, 'current')), when).toBe(`releases/v${version}`);
  const release = join(world.dir, 'releases', `v${version}`);
  expect((await readdir(release)).sort(), when).toEqual(['VERSION', 'release.json', 'server.js']);
  expect(await readFile(join(release, 'VERSION'), 'utf8'), when).toBe(`${version}\n`);
  expect(await readFile(join(release, 'server.js'), 'utf8'), when).toBe(demoServerJs(world.app, version));
  expect(JSON.parse(await readFile(join(release, 'release.json'), 'utf8')), when).toMatchObject({app: world.app, version});
}

/** releases/ holds only complete releases, at most keepReleases + 1, and .parako/ no lock, journal or download. */
async function expectTidy(world: SignedWorld, when: string): Promise<string[]> {
  const entries = await releaseEntries(world);
  expect(entries.filter((name) => !/^v\d+\.\d+\.\d+$/.test(name)), `${when}: leftovers in releases/`).toEqual([]);
  expect(entries.length, `${when}: releases/ holds ${entries.join(', ')}`).toBeLessThanOrEqual(KEEP_RELEASES + 1);
  for (const name of ['lock', 'state.json', 'downloads']) {
    expect(await exists(join(world.dir, '.parako', name)), `${when}: .parako/${name} remains`).toBe(false);
  }
  return entries;
}

describe('a long life of updates and rollbacks', () => {
  it(
    `${CYCLES} update/rollback cycles leave runtime/ byte-identical and releases/ with exactly keepReleases entries`,
    async () => {
      const world = await worlds.installed({keepReleases: KEEP_RELEASES});
      await makeRuntime(world.dir);
      const runtime = join(world.dir, 'runtime');
      const runtimeBefore = await snapshotTree(runtime);
      let lines = (await history(world)).length;

      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        const version = `1.${cycle}.0`;
        await world.publish({version});

        const update = await parako(world, ['update', '--no-restart']);
        expectExit(update, 0);
        await expectCurrentComplete(world, version, `cycle ${cycle}, after update`);
        await expectTidy(world, `cycle ${cycle}, after update`);

        const rollback = await parako(world, ['rollback', '--no-restart']);
        expectExit(rollback, 0);
        await expectCurrentComplete(world, '1.0.0', `cycle ${cycle}, after rollback`);
        await expectTidy(world, `cycle ${cycle}, after rollback`);

        const lived = await history(world);
        expect(lived.length, `cycle ${cycle}: history lines`).toBe(lines + 2);
        expect(lived.slice(-2), `cycle ${cycle}: the last two history lines`).toMatchObject([
          {operation: 'update', from: '1.0.0', to: version, outcome: 'updated', code: 0},
          {operation: 'rollback', from: version, to: '1.0.0', outcome: 'rolled-back', code: 0},
        ]);
        lines = lived.length;
        // Checked every cycle (it is small), so a failure names the cycle that broke it.
        expect(diffTrees(runtimeBefore, await snapshotTree(runtime)), `cycle ${cycle}: runtime/ changed`).toEqual([]);
      }

      const retained = await expectTidy(world, 'at the end');
      expect(retained, 'releases/ at the end').toHaveLength(KEEP_RELEASES);
      // Never current (v1.0.0); the newest ones fill the rest.
      expect(retained).toEqual(expect.arrayContaining(['v1.0.0', `v1.${CYCLES}.0`]));
      expect(diffTrees(runtimeBefore, await snapshotTree(runtime)), 'runtime/ at the end').toEqual([]);
    },
    TIMEOUT_MS,
  );
});
