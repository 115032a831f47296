/**
 * The release-pointer pipeline through the real CLI (architecture.md §2, §8, §3): install, update,
 * prune, version selection, refusals, dry run and rollback, each against a live feed of
 * signed releases in a fresh temp world.
 */
import {mkdir, mkdtemp, readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import type {CliResult} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {diffTrees, snapshotTree} from '../fixtures/tree.js';
import {currentTarget, currentVersionFile, exists, expectExit, expectUnchanged, explain, history, jsonOf, parako, releaseEntries, snapshotInstall, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();
let world: SignedWorld;

async function newWorld(config: Record<string, unknown> = {}, ...versions: string[]): Promise<SignedWorld> {
  world = await worlds.make();
  await world.writeConfig(config);
  for (const version of versions) await world.publish({version});
  return world;
}

/** `parako update --version <v>`, which must succeed. */
async function installVersion(version: string, extra: string[] = []): Promise<void> {
  const result = await parako(world, ['update', '--version', version, ...extra]);
  expectExit(result, 0);
}

describe('parako update installs and updates', () => {
  it('a first update on a dir holding only parako.json installs the layout and points current at the release', async () => {
    await newWorld({}, '1.0.0');
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/installed v1\.0\.0/);
    // The bundled supervisor plugins are loaded but nothing is configured: nobody restarted anything.
    expect(result.stdout).toContain('no supervisor configured: restart the service yourself so it runs the new release');
    expect(result.stdout).not.toContain('service restarted');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await currentVersionFile(world)).toBe('1.0.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0']);
    expect(await readFile(join(world.dir, 'current', 'release.json'), 'utf8')).toContain('"version": "1.0.0"');
    // .parako/ holds the history, the log and the release's size record, and nothing left over from the run.
    const state = (await readdir(join(world.dir, '.parako'))).sort();
    expect(state.filter((name) => !['history.jsonl', 'parako.log', 'releases'].includes(name)), 'leftovers in .parako/').toEqual([]);
    expect(await readdir(join(world.dir, '.parako', 'releases'))).toEqual(['v1.0.0.json']);
    const lines = await history(world);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({operation: 'update', from: null, to: '1.0.0', outcome: 'installed', code: 0});
  });

  it('an update re-aims current at the newer release and keeps the old one for rollback', async () => {
    await newWorld({}, '1.0.0');
    await installVersion('latest');
    await world.publish({version: '1.1.0'});
    const result = await parako(world, ['update', '--json']);
    expectExit(result, 0);
    expect(jsonOf(result)).toMatchObject({code: 0, outcome: 'updated', from: '1.0.0', to: '1.1.0'});
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await currentVersionFile(world)).toBe('1.1.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0']);
    expect(await exists(join(world.dir, '.parako', 'downloads')), 'downloads are removed after a successful update').toBe(false);
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'updated', code: 0});
  });

  it('updating again prunes to keepReleases (3) over five versions, never removing current or the rollback target', async () => {
    await newWorld({keepReleases: 3}, '1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0');
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) await installVersion(version);
    expect(await releaseEntries(world)).toEqual(['v1.1.0', 'v1.2.0', 'v1.3.0']);
    expectExit(await parako(world, ['rollback', '--to', 'v1.1.0']), 0);
    // 1.4.0 is installed from 1.1.0, so 1.1.0 is its rollback target and stays although it is the oldest; 1.2.0 goes.
    const result = await parako(world, ['update', '--json']);
    expectExit(result, 0);
    expect(jsonOf(result)).toMatchObject({from: '1.1.0', to: '1.4.0'});
    expect(await releaseEntries(world)).toEqual(['v1.1.0', 'v1.3.0', 'v1.4.0']);
    expect(await currentTarget(world)).toBe('releases/v1.4.0');
    expectExit(await parako(world, ['rollback']), 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('--version takes v1.0.0, a semver range and latest; updating when on the latest does nothing', async () => {
    await newWorld({}, '1.0.0', '1.1.0', '1.2.0', '2.0.0');
    await installVersion('v1.0.0');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await installVersion('^1.0');
    expect(await currentTarget(world)).toBe('releases/v1.2.0');
    await installVersion('latest');
    expect(await currentTarget(world)).toBe('releases/v2.0.0');

    const before = await snapshotInstall(world);
    const again = await parako(world, ['update']);
    expectExit(again, 0);
    expect(again.stdout).toMatch(/already on v2\.0\.0/);
    const json = jsonOf(await parako(world, ['update', '--json']));
    expect(json).toMatchObject({code: 0, outcome: 'up-to-date', from: '2.0.0', to: '2.0.0'});
    await expectUnchanged(world, before, {context: 'already on latest'});
  });

  it('a version the feed does not list is a usage error (exit 2) and changes nothing', async () => {
    await newWorld({}, '1.0.0');
    await installVersion('1.0.0');
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update', '--version', '3.0.0']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/3\.0\.0/);
    const bad = await parako(world, ['update', '--version', 'not-a-version']);
    expectExit(bad, 2);
    await expectUnchanged(world, before);
  });
});

describe('parako update refuses what it must not do', () => {
  it('a downgrade is refused with exit 5 and nothing changes; --allow-downgrade installs it', async () => {
    await newWorld({}, '1.0.0', '1.1.0');
    await installVersion('1.1.0');
    const before = await snapshotInstall(world);
    const refused = await parako(world, ['update', '--version', '1.0.0']);
    expectExit(refused, 5);
    expect(refused.stderr).toMatch(/downgrade/i);
    await expectUnchanged(world, before, {context: 'refused downgrade'});

    const allowed = await parako(world, ['update', '--version', '1.0.0', '--allow-downgrade']);
    expectExit(allowed, 0);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a dir containing .git/ (a source install) is refused with exit 5, the git pull steps, and nothing touched', async () => {
    await newWorld({}, '1.0.0');
    await mkdir(join(world.dir, '.git'));
    await writeFile(join(world.dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    // A source install has no .parako/: compare everything, so not even a log file may appear.
    const before = await snapshotTree(world.dir);
    for (const args of [['update'], ['rollback'], ['prune']]) {
      const result = await parako(world, args);
      expectExit(result, 5);
      expect(result.stderr, args[0]).toMatch(/git pull/);
      expect.soft(diffTrees(before, await snapshotTree(world.dir)), `parako ${args[0]} touched a source install`).toEqual([]);
    }
  });

  it('a misspelt config key is a config error (exit 2) naming the key and the file', async () => {
    world = await worlds.make();
    await world.writeConfig({keepReelases: 4});
    await world.publish({version: '1.0.0'});
    const result = await parako(world, ['update']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/keepReelases/);
    expect(result.stderr).toContain(world.configFile);
    expect(await exists(join(world.dir, 'releases'))).toBe(false);
    expect(await exists(join(world.dir, 'current'))).toBe(false);
  });

  it('a source.index that is not a URL is a config error (exit 2) naming source.index', async () => {
    world = await worlds.make();
    await world.writeConfig({source: {index: 'releases.example.com/index.json'}});
    const result = await parako(world, ['update', '--json']);
    expectExit(result, 2);
    expect(jsonOf(result)).toMatchObject({code: 2});
    expect(String(jsonOf(result).message)).toMatch(/source\.index/);
  });

  it('a ${VAR} in parako.json is expanded from the environment, and an unset one is a config error naming it', async () => {
    world = await worlds.make();
    await world.publish({version: '1.0.0'});
    await world.writeConfig({source: {index: '${PARAKO_TEST_FEED_URL}'}});
    const missing = await parako(world, ['update']);
    expectExit(missing, 2);
    expect(missing.stderr).toMatch(/PARAKO_TEST_FEED_URL/);
    expect(await exists(join(world.dir, 'current'))).toBe(false);

    const set = await parako(world, ['update'], {env: {PARAKO_TEST_FEED_URL: world.feed.indexUrl}});
    expectExit(set, 0);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('an install dir without parako.json is a config error (exit 2) and nothing is created', async () => {
    world = await worlds.make();
    await mkdir(world.dir);
    const result = await parako(world, ['update']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/parako\.json/);
    expect(await readdir(world.dir)).toEqual([]);
  });
});

describe('parako update --dry-run', () => {
  it('a dry run prints the plan and leaves the whole install dir identical, .parako and mtimes included', async () => {
    await newWorld({}, '1.0.0');
    await installVersion('1.0.0');
    await world.publish({version: '1.1.0', notes: 'Faster tokens', breaking: ['the /v1/tokens endpoint is removed'], migration: {command: 'node migrate.js'}});
    const scratch = await mkdtemp(join(world.root, 'tmp-'));
    const before = await snapshotTree(world.dir);
    const result = await parako(world, ['update', '--dry-run'], {env: {TMPDIR: scratch}});
    expectExit(result, 0);
    expect(result.stdout).toMatch(/1\.0\.0/);
    expect(result.stdout).toMatch(/1\.1\.0/);
    expect(result.stdout).toMatch(/tokens endpoint is removed/);
    expect(result.stdout).toMatch(/node migrate\.js/);
    expect(diffTrees(before, await snapshotTree(world.dir)), 'a dry run changed the install dir').toEqual([]);
    expect(await readdir(scratch), 'the dry run left its scratch space behind').toEqual([]);
    // It really downloaded: the artifact was fetched (into TMPDIR).
    expect(world.feed.requests.some((r) => r.path.endsWith('v1.1.0/demo-app-v1.1.0.tar.gz'))).toBe(true);

    const json = jsonOf(await parako(world, ['update', '--dry-run', '--json'], {env: {TMPDIR: scratch}}));
    expect(json).toMatchObject({code: 0, outcome: 'dry-run', from: '1.0.0', to: '1.1.0'});
    expect(diffTrees(before, await snapshotTree(world.dir))).toEqual([]);
  });

  it('a dry run on a fresh dir creates nothing: no .parako, no releases, no current', async () => {
    await newWorld({}, '1.0.0');
    const scratch = await mkdtemp(join(world.root, 'tmp-'));
    const before = await snapshotTree(world.dir);
    const result = await parako(world, ['update', '--dry-run', '--json'], {env: {TMPDIR: scratch}});
    expectExit(result, 0);
    expect(jsonOf(result)).toMatchObject({code: 0, outcome: 'dry-run', to: '1.0.0'});
    expect(diffTrees(before, await snapshotTree(world.dir))).toEqual([]);
    expect(await readdir(world.dir)).toEqual(['parako.json']);
  });

  it('a dry run of a tampered release fails with exit 3 and still changes nothing', async () => {
    await newWorld({}, '1.0.0');
    await installVersion('1.0.0');
    await world.publish({version: '1.1.0'});
    const index = world.feed.generatedIndex();
    index.releases = index.releases.map((r) => (r.version === '1.1.0' ? {...r, sha256: 'f'.repeat(64)} : r));
    await world.feed.setIndex(index);
    const scratch = await mkdtemp(join(world.root, 'tmp-'));
    const before = await snapshotTree(world.dir);
    const result = await parako(world, ['update', '--dry-run'], {env: {TMPDIR: scratch}});
    expectExit(result, 3);
    expect(diffTrees(before, await snapshotTree(world.dir))).toEqual([]);
    expect(await readdir(scratch)).toEqual([]);
  });
});

describe('parako rollback', () => {
  it('rollback goes back to the previous release, and --to to any retained one', async () => {
    await newWorld({}, '1.0.0', '1.1.0', '1.2.0');
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) await installVersion(version);

    const back = await parako(world, ['rollback', '--json']);
    expectExit(back, 0);
    expect(jsonOf(back)).toMatchObject({code: 0, outcome: 'rolled-back', from: '1.2.0', to: '1.1.0'});
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await currentVersionFile(world)).toBe('1.1.0');
    // Rolling back retains every release: 1.2.0 is still there to go forward to.
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0']);

    const to = await parako(world, ['rollback', '--to', 'v1.0.0']);
    expectExit(to, 0);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');

    const forward = await parako(world, ['rollback', '--to', '1.2.0']);
    expectExit(forward, 0);
    expect(await currentTarget(world)).toBe('releases/v1.2.0');
    expect((await history(world)).filter((h) => h.operation === 'rollback').map((h) => [h.from, h.to, h.outcome])).toEqual([
      ['1.2.0', '1.1.0', 'rolled-back'],
      ['1.1.0', '1.0.0', 'rolled-back'],
      ['1.0.0', '1.2.0', 'rolled-back'],
    ]);
  });

  it('rollback --to a version that is not retained is refused with exit 5 and changes nothing', async () => {
    await newWorld({keepReleases: 2}, '1.0.0', '1.1.0', '1.2.0');
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) await installVersion(version);
    expect(await releaseEntries(world)).toEqual(['v1.1.0', 'v1.2.0']);
    const before = await snapshotInstall(world);
    for (const to of ['v1.0.0', 'v0.9.0']) {
      const result = await parako(world, ['rollback', '--to', to, '--json']);
      expectExit(result, 5);
      expect(jsonOf(result)).toMatchObject({code: 5});
      expect(String(jsonOf(result).message)).toMatch(/not retained/);
      expect(jsonOf(result).next, 'a refusal says what to do next').toBeTypeOf('string');
    }
    await expectUnchanged(world, before);
  });

  it('rollback right after a first install is refused with exit 5: there is nothing to go back to', async () => {
    await newWorld({}, '1.0.0');
    const nothing = await parako(world, ['rollback']);
    expectExit(nothing, 5);
    await installVersion('1.0.0');
    const before = await snapshotInstall(world);
    const result = await parako(world, ['rollback']);
    expectExit(result, 5);
    expect(result.stderr).toMatch(/no release before v1\.0\.0/);
    await expectUnchanged(world, before);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });
});

describe('--json', () => {
  it('every command prints exactly one JSON object with code, outcome, message, from and to', async () => {
    await newWorld({}, '1.0.0', '1.1.0');
    const results: Record<string, Awaited<ReturnType<typeof parako>>> = {};
    results.install = await parako(world, ['update', '--version', '1.0.0', '--json']);
    results.update = await parako(world, ['update', '--json']);
    results.status = await parako(world, ['status', '--json']);
    results.releases = await parako(world, ['releases', '--json']);
    results.rollback = await parako(world, ['rollback', '--json']);
    results.prune = await parako(world, ['prune', '--keep', '2', '--json']);
    results.refused = await parako(world, ['rollback', '--to', 'v9.9.9', '--json']);
    for (const [name, result] of Object.entries(results)) {
      const json = jsonOf(result);
      for (const key of ['code', 'outcome', 'message', 'from', 'to']) expect(json, `${name}: ${explain(result)}`).toHaveProperty(key);
      expect(json.code, name).toBe(result.code);
      expect(result.stdout.trim().split('\n'), `${name} printed more than one line on stdout`).toHaveLength(1);
    }
    expect(jsonOf(results.install!)).toMatchObject({code: 0, outcome: 'installed', from: null, to: '1.0.0'});
    expect(jsonOf(results.update!)).toMatchObject({code: 0, outcome: 'updated', from: '1.0.0', to: '1.1.0'});
    expect(jsonOf(results.status!)).toMatchObject({code: 0, status: {current: '1.1.0', rollbackTarget: '1.0.0', interrupted: null, inFlight: null}});
    const releases = jsonOf(results.releases!).releases as Array<Record<string, unknown>>;
    expect(releases.map((r) => [r.version, r.current, r.retained])).toEqual([
      ['1.1.0', true, true],
      ['1.0.0', false, true],
    ]);
    expect(jsonOf(results.rollback!)).toMatchObject({code: 0, outcome: 'rolled-back', from: '1.1.0', to: '1.0.0'});
    expect(jsonOf(results.prune!)).toMatchObject({code: 0, outcome: 'pruned'});
    expect(jsonOf(results.refused!)).toMatchObject({code: 5, outcome: 'failed'});
    expect(jsonOf(results.refused!).next).toBeTypeOf('string');
  });
});

describe('runtime/', () => {
  it('runtime/ stays byte-identical through installs, updates, refusals, failures, dry runs, rollbacks and prunes', async () => {
    world = await worlds.make();
    await world.writeConfig({keepReleases: 2});
    const runtime = join(world.dir, 'runtime');
    await mkdir(join(runtime, 'data'), {recursive: true});
    await writeFile(join(runtime, 'data', 'db.sqlite'), Buffer.from('SQLite format 3\0 pretend pages'));
    await writeFile(join(runtime, '.env'), 'SECRET=hunter2\n', {mode: 0o600});
    const before = await snapshotTree(runtime);
    const expectRuntime = async (step: string): Promise<void> => {
      expect(diffTrees(before, await snapshotTree(runtime)), `runtime/ changed after ${step}`).toEqual([]);
    };

    const steps: Array<[string, () => Promise<unknown>, number]> = [
      ['publish 1.0.0', () => world.publish({version: '1.0.0'}), -1],
      ['update (install)', async () => parako(world, ['update']), 0],
      ['publish 1.1.0', () => world.publish({version: '1.1.0'}), -1],
      ['dry run', async () => parako(world, ['update', '--dry-run'], {env: {TMPDIR: world.root}}), 0],
      ['update', async () => parako(world, ['update']), 0],
      ['publish a hostile 1.2.0', () => world.publish({version: '1.2.0', extraEntries: [{path: '../runtime/data/db.sqlite', content: 'pwned'}]}), -1],
      ['update to a hostile archive', async () => parako(world, ['update']), 3],
      ['publish 1.3.0 with a hostile link', () => world.publish({version: '1.3.0', extraEntries: [{path: 'data', type: 'symlink', linkpath: '../../runtime/data'}, {path: 'data/db.sqlite', content: 'pwned'}]}), -1],
      ['update to a hostile link', async () => parako(world, ['update', '--version', '1.3.0']), 3],
      ['downgrade refused', async () => parako(world, ['update', '--version', '1.0.0']), 5],
      ['rollback', async () => parako(world, ['rollback']), 0],
      ['rollback --to', async () => parako(world, ['rollback', '--to', 'v1.1.0']), 0],
      ['status', async () => parako(world, ['status']), 0],
      ['releases', async () => parako(world, ['releases']), 0],
      ['publish 1.4.0 and 1.5.0', async () => [await world.publish({version: '1.4.0'}), await world.publish({version: '1.5.0'})], -1],
      ['update to 1.4.0', async () => parako(world, ['update', '--version', '1.4.0']), 0],
      ['update to 1.5.0 (prunes)', async () => parako(world, ['update', '--version', '1.5.0']), 0],
      ['prune', async () => parako(world, ['prune', '--keep', '2']), 0],
    ];
    for (const [step, run, code] of steps) {
      const result = await run();
      await expectRuntime(step);
      // Soft: a wrong exit code is reported, and the sequence still goes on to check runtime/ after every step.
      if (code >= 0) expect.soft((result as CliResult).code, `${step}: ${explain(result as CliResult)}`).toBe(code);
    }
    expect(await currentTarget(world)).toBe('releases/v1.5.0');
    expect(await releaseEntries(world)).toEqual(['v1.4.0', 'v1.5.0']);
  });
});
