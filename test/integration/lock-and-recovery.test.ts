/**
 * One operation at a time (`.parako/lock`, exit 4) and recovery of a run that was killed
 * (`.parako/state.json`, architecture.md §3.2): the real CLI is paused at a phase boundary with
 * PARAKO_TEST_PAUSE_AT, killed with SIGKILL, and the next invocation must finish the job.
 */
import {spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {lstat, mkdir, readdir, readFile, symlink, writeFile} from 'node:fs/promises';
import {hostname} from 'node:os';
import {join} from 'node:path';

import {afterEach, describe, expect, it} from 'vitest';

import type {ParakoProcess} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, currentVersionFile, expectExit, exists, history, jsonOf, parako, releaseEntries, spawnInWorld, useInstalledWorlds} from './helpers.js';

const worlds = useInstalledWorlds();
let world: SignedWorld;
const children: ParakoProcess[] = [];

afterEach(async () => {
  // A test that failed half-way may leave its paused parako running: end exactly those.
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await child.result.catch(() => undefined);
  }
});

/** A world with v1.0.0 installed and v1.1.0 published. */
async function worldWithUpdate(releaseFiles: Record<string, string> = {}): Promise<void> {
  world = await worlds.installed();
  await world.publish({version: '1.1.0', files: releaseFiles});
}

/** `parako update` stopped right after the journal records `phase`. */
async function pausedUpdate(phase: string, env: Record<string, string> = {}): Promise<ParakoProcess> {
  const child = spawnInWorld(world, ['update'], {env: {PARAKO_TEST_PAUSE_AT: phase, ...env}});
  children.push(child);
  await child.waitForOutput(new RegExp(`PARAKO_TEST_PAUSED_AT ${phase}\\b`));
  return child;
}

async function kill9(child: ParakoProcess): Promise<void> {
  child.kill('SIGKILL');
  const result = await child.result;
  expect(result.signal).toBe('SIGKILL');
}

/** A pid that certainly belonged to a process which has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '']).pid;
  if (pid === undefined) throw new Error('could not spawn a short-lived process');
  return pid;
}

const stateFile = (): string => join(world.dir, '.parako', 'state.json');
const lockFile = (): string => join(world.dir, '.parako', 'lock');

/** After a run completed: no staging dir, no temp link, no lock, no journal. */
async function expectNoLeftovers(): Promise<void> {
  expect((await releaseEntries(world)).filter((name) => !/^v\d/.test(name)), 'leftovers in releases/').toEqual([]);
  expect((await readdir(world.dir)).filter((name) => name.startsWith('current.tmp-')), 'temp links').toEqual([]);
  expect(await exists(lockFile()), '.parako/lock remains').toBe(false);
  expect(await exists(stateFile()), '.parako/state.json remains').toBe(false);
}

describe('one operation at a time', () => {
  it('a second update while one runs exits 4 at once, naming the holder pid and start time, and changes nothing', async () => {
    await worldWithUpdate();
    const first = await pausedUpdate('download');
    const second = await parako(world, ['update', '--json']);
    expectExit(second, 4);
    const json = jsonOf(second);
    expect(json).toMatchObject({code: 4});
    expect(String(json.message)).toContain(`pid ${first.pid}`);
    expect(String(json.message)).toMatch(/started \d{4}-\d\d-\d\dT/);
    expect(json.next).toBeTypeOf('string');
    // The other writers are locked out too; the readers are not.
    expectExit(await parako(world, ['rollback']), 4);
    expectExit(await parako(world, ['prune']), 4);
    const status = await parako(world, ['status', '--json']);
    expectExit(status, 0);
    expect(jsonOf(status)).toMatchObject({status: {inFlight: {owner: {pid: first.pid}, journal: {phase: 'download', to: '1.1.0'}}, interrupted: null}});
    // A dry run takes no lock (architecture.md §3.7), so it runs alongside.
    const dryRun = await parako(world, ['update', '--dry-run'], {env: {TMPDIR: world.root}});
    expectExit(dryRun, 0);
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({pid: first.pid});
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await kill9(first);
  });

  it('a stale lock whose process is dead is taken over, and the output says so', async () => {
    await worldWithUpdate();
    const pid = deadPid();
    await writeFile(lockFile(), JSON.stringify({pid, startedAt: '2025-01-01T00:00:00.000Z', command: 'update', host: hostname()}));
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(result.stdout).toMatch(new RegExp(`took over a stale lock of pid ${pid}\\b`));
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoLeftovers();
  });

  it('a lock held on another host is never taken over: exit 4', async () => {
    await worldWithUpdate();
    await writeFile(lockFile(), JSON.stringify({pid: deadPid(), startedAt: '2025-01-01T00:00:00.000Z', command: 'update', host: `not-${hostname()}`}));
    const result = await parako(world, ['update']);
    expectExit(result, 4);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await exists(lockFile())).toBe(true);
  });
});

describe('a run killed with SIGKILL is recovered by the next', () => {
  it('an update killed after staging and before the swap is reported by status and completed by the next update', async () => {
    await worldWithUpdate();
    await kill9(await pausedUpdate('pre-swap'));

    // Killed: current still on the old release, the new one complete under its final name.
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await currentVersionFile(world)).toBe('1.0.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0']);
    const staged = join(world.dir, 'releases', 'v1.1.0');
    expect(await readFile(join(staged, 'VERSION'), 'utf8')).toBe('1.1.0\n');
    expect(JSON.parse(await readFile(join(staged, 'release.json'), 'utf8'))).toMatchObject({app: world.app, version: '1.1.0'});
    expect((await lstat(join(staged, 'server.js'))).isFile()).toBe(true);
    expect(await exists(stateFile()), 'the journal of the killed run').toBe(true);

    const status = await parako(world, ['status']);
    expectExit(status, 0);
    expect(status.stdout).toMatch(/interrupted: update v1\.0\.0 -> v1\.1\.0 stopped during pre-swap/);
    expect(jsonOf(await parako(world, ['status', '--json']))).toMatchObject({status: {current: '1.0.0', inFlight: null, interrupted: {phase: 'pre-swap', from: '1.0.0', to: '1.1.0'}}});

    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout).toMatch(/found an interrupted update v1\.0\.0 -> v1\.1\.0/);
    expect(next.stdout).toMatch(/took over a stale lock/);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await currentVersionFile(world)).toBe('1.1.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0', 'v1.1.0']);
    await expectNoLeftovers();
    expect((await history(world)).map((h) => h.outcome)).toEqual(['installed', 'interrupted', 'updated']);
    expect(jsonOf(await parako(world, ['status', '--json']))).toMatchObject({status: {current: '1.1.0', interrupted: null, inFlight: null}});
  });

  it('an update killed at the start of the download leaves current alone, and the next update completes', async () => {
    await worldWithUpdate();
    await kill9(await pausedUpdate('download'));
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await releaseEntries(world)).toEqual(['v1.0.0']);
    expect(await exists(stateFile())).toBe(true);

    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout).toMatch(/found an interrupted update/);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoLeftovers();
  });

  it('an update killed mid-download is resumed by the next run with a Range request', async () => {
    await worldWithUpdate({'assets/blob.txt': randomBytes(150_000).toString('base64')});
    const release = world.feed.generatedIndex().releases.find((r) => r.version === '1.1.0')!;
    const stallAt = Math.floor(release.size / 2);
    world.feed.faults.stallAfterBytes = {suffix: '.tar.gz', bytes: stallAt};
    const child = spawnInWorld(world, ['update'], {env: {PARAKO_HTTP_IDLE_TIMEOUT_MS: '60000'}});
    children.push(child);
    const downloads = join(world.dir, '.parako', 'downloads');
    const partialSize = async (): Promise<number> => {
      const names = (await readdir(downloads).catch(() => [] as string[])).filter((name) => name.endsWith('.tar.gz'));
      return names.length === 1 ? (await lstat(join(downloads, names[0]!))).size : 0;
    };
    const deadline = Date.now() + 20_000;
    while ((await partialSize()) < stallAt) {
      if (Date.now() > deadline) throw new Error(`the partial download never reached ${stallAt} bytes\n${child.output().stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await kill9(child);
    world.feed.faults.stallAfterBytes = undefined;
    world.feed.requests.length = 0;

    const next = await parako(world, ['update']);
    expectExit(next, 0);
    const artifactRequests = world.feed.requests.filter((r) => r.path.endsWith('.tar.gz'));
    expect(artifactRequests.map((r) => r.range)).toEqual([`bytes=${stallAt}-`]);
    expect(await currentVersionFile(world)).toBe('1.1.0');
    await expectNoLeftovers();
    expect(await exists(downloads), 'the finished download is removed').toBe(false);
  });

  it('an update killed after the swap and before any restart is re-aimed at the old release by the next run', async () => {
    await worldWithUpdate();
    await kill9(await pausedUpdate('post-swap'));
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    const status = jsonOf(await parako(world, ['status', '--json']));
    expect(status).toMatchObject({status: {interrupted: {phase: 'post-swap', swapped: true}}});

    // prune takes the lock and recovers, without updating: the service never ran v1.1.0, so current goes back.
    const prune = await parako(world, ['prune']);
    expectExit(prune, 0);
    expect(prune.stdout).toMatch(/found an interrupted update v1\.0\.0 -> v1\.1\.0/);
    expect(prune.stdout).toMatch(/re-aimed at v1\.0\.0/);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await currentVersionFile(world)).toBe('1.0.0');
    await expectNoLeftovers();

    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoLeftovers();
  });

  it('an update killed after the swap is also recovered by a plain parako update, which then completes', async () => {
    await worldWithUpdate();
    await kill9(await pausedUpdate('post-swap'));
    const next = await parako(world, ['update']);
    expectExit(next, 0);
    expect(next.stdout).toMatch(/re-aimed at v1\.0\.0/);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoLeftovers();
  });

  it('staging dirs and temp links a killed run left behind are removed by the next run, which says so', async () => {
    await worldWithUpdate();
    await mkdir(join(world.dir, 'releases', '.staging-v1.1.0-deadbeef', 'half'), {recursive: true});
    await writeFile(join(world.dir, 'releases', '.staging-v1.1.0-deadbeef', 'half', 'file'), 'partial');
    await symlink('releases/v1.0.0', join(world.dir, 'current.tmp-deadbeef'));
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/removed releases\/\.staging-v1\.1\.0-deadbeef/);
    expect(result.stdout).toMatch(/removed current\.tmp-deadbeef/);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoLeftovers();
  });
});
