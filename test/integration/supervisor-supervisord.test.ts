/**
 * The supervisord supervisor plugin against a real supervisord (a throwaway daemon with its
 * own config, socket and logs: test/fixtures/supervisord.ts) running the test app from
 * `<dir>/current`, the way docs/supervisors/supervisord.md sets an operator up: an update
 * restarts the program onto the new release; a release that crashes at start is rolled back
 * automatically (exit 7) and the old release runs again; a program supervisord does not know
 * stops the update before anything is downloaded (exit 6), or a first install at the restart
 * (exit 8); the dry run names the program; a bad `supervisor` section exits 2 naming the key.
 */
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

import {afterEach, describe, expect, it} from 'vitest';

import {appRelease, freePort} from '../fixtures/app.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {type ProgramOptions, startSupervisord, type Supervisord, supervisordMissing} from '../fixtures/supervisord.js';
import {currentTarget, expectExit, expectUnchanged, explain, history, jsonOf, parako, snapshotInstall, useSignedWorlds} from './helpers.js';

const missing = await supervisordMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide supervisord (.ci/run installs Debian's supervisor): ${missing}`);
}

const PLUGIN = '@parako/plugin-supervisord';

const worlds = useSignedWorlds();
const daemons: Supervisord[] = [];

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop();
}, 60_000);

interface SupervisordWorld {
  world: SignedWorld;
  supervisord: Supervisord;
  healthUrl: string;
  /** The `supervisor` section written into parako.json. */
  supervisor: Record<string, unknown>;
}

/**
 * A world with v1.0.0 installed (`--no-restart`) and run by supervisord as program `demo-app`
 * (`node <dir>/current/server.js` in `<dir>/current`), answering on a free port.
 */
async function supervisordWorld(supervisorOverrides: Record<string, unknown> = {}, programOverrides: Partial<ProgramOptions> = {}): Promise<SupervisordWorld> {
  const world = await worlds.make();
  const supervisord = await startSupervisord();
  daemons.push(supervisord);
  const port = await freePort();
  const healthUrl = `http://127.0.0.1:${port}/health`;
  const supervisor = {type: 'supervisord', programs: [world.app], configFile: supervisord.configFile, settleSeconds: 1, ...supervisorOverrides};
  await world.writeConfig({supervisor, health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true}});
  await world.publish(appRelease('1.0.0', {app: world.app}));
  expectExit(await parako(world, ['update', '--no-restart']), 0);
  // Through `current`: supervisord resolves it at each start, so a restart runs the release it points at then.
  await supervisord.addProgram(world.app, {
    command: `${process.execPath} ${join(world.dir, 'current', 'server.js')}`,
    directory: join(world.dir, 'current'),
    environment: {PORT: String(port)},
    ...programOverrides,
  });
  await supervisord.waitFor(world.app, 'RUNNING');
  expect(await versionAt(healthUrl)).toBe('1.0.0');
  return {world, supervisord, healthUrl, supervisor};
}

/** The version /health reports once it answers 200 (polled for up to `timeoutMs`). */
async function versionAt(url: string, timeoutMs = 15_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(2000)});
      if (response.status === 200) return ((await response.json()) as {version: string}).version;
    } catch {
      // Not listening yet: poll again.
    }
    await sleep(100);
  }
  return undefined;
}

describe.skipIf(missing !== false)(`supervisord supervisor${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('an update restarts the program and the new release answers its health URL', {timeout: 120_000}, async () => {
    const {world, supervisord, healthUrl} = await supervisordWorld({settleSeconds: undefined});
    const before = await supervisord.status(world.app);
    await world.publish(appRelease('1.1.0', {app: world.app}));
    const result = await parako(world, ['update'], {timeoutMs: 90_000});
    expectExit(result, 0);
    expect(result.stdout).toContain(`[${PLUGIN}] supervisorctl -c ${supervisord.configFile} restart ${world.app}`);
    // The default settle window: 3 s with the same pid.
    expect(result.stdout).toMatch(new RegExp(`\\[${PLUGIN}\\] ${world.app} is RUNNING with new pid (\\d+) \\(steady for 3 s\\)`));
    expect(result.stdout).toContain('service restarted');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await versionAt(healthUrl, 2000)).toBe('1.1.0');
    const after = await supervisord.status(world.app);
    expect(after.state).toBe('RUNNING');
    expect(after.pid).not.toBe(before.pid);
    expect(result.stdout).toContain(`new pid ${after.pid} `);
  });

  it('a release that crashes at start fails the restart; parako rolls back (exit 7) and the old release runs again', {timeout: 120_000}, async () => {
    const {world, supervisord, healthUrl} = await supervisordWorld();
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash'}));
    const result = await parako(world, ['update'], {timeoutMs: 90_000});
    expectExit(result, 7);
    const said = result.stdout + result.stderr;
    expect(said, explain(result)).toMatch(new RegExp(`supervisord program ${world.app} did not stay up: supervisord shows it (BACKOFF|FATAL) \\(Exited too quickly`));
    // The app's own last words, from its stderr log.
    expect(said).toMatch(new RegExp(`log lines since the restart at \\d\\d:\\d\\d:\\d\\d \\(supervisorctl -c ${supervisord.configFile} tail -65536 ${world.app} stderr, after what it held before the restart\\):`));
    expect(said).toContain(`${world.app} v1.1.0 cannot start`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await versionAt(healthUrl, 5000)).toBe('1.0.0');
    expect((await supervisord.status(world.app)).state).toBe('RUNNING');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'auto-rolled-back', code: 7});
  });

  it("the failure's log excerpt holds only what the new release wrote since the restart, not the old release's lines", {timeout: 120_000}, async () => {
    // One log for both streams, so the old release's "listening" line sits right above the new one's.
    const {world, supervisord} = await supervisordWorld({}, {redirectStderr: true});
    expect((await supervisord.ctl(['tail', world.app, 'stdout'])).stdout).toContain(`${world.app} v1.0.0 listening on port`);
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash'}));
    const result = await parako(world, ['update'], {timeoutMs: 90_000});
    expectExit(result, 7);
    const said = result.stdout + result.stderr;
    expect(said, explain(result)).toMatch(new RegExp(`log lines since the restart at \\d\\d:\\d\\d:\\d\\d \\(supervisorctl -c ${supervisord.configFile} tail -65536 ${world.app} stdout, after what it held before the restart\\):\\n`));
    expect(said).toContain(`${world.app} v1.1.0 cannot start`);
    expect(said).not.toContain(`${world.app} v1.0.0 listening on port`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a program supervisord does not know stops the update before anything is downloaded (exit 6), touching nothing', {timeout: 120_000}, async () => {
    const {world, supervisord, supervisor} = await supervisordWorld();
    await world.writeConfig({supervisor: {...supervisor, programs: ['demo-ap']}});
    const running = await supervisord.status(world.app);
    await world.publish(appRelease('1.1.0', {app: world.app}));
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update', '--json'], {timeoutMs: 90_000});
    expectExit(result, 6);
    const json = jsonOf(result);
    expect(json.message).toBe(
      `pre-download hook of ${PLUGIN} failed: supervisord has no program demo-ap; supervisor.programs must name programs from its config (it runs ${world.app}); current is still v1.0.0.`,
    );
    expect(json.next).toMatch(/^fix supervisor\.programs in parako\.json/);
    await expectUnchanged(world, before);
    expect(await supervisord.status(world.app)).toMatchObject({state: 'RUNNING', pid: running.pid});
  });

  it('a first install with the program not added yet: exit 8, current stays on the release, not marked bad', {timeout: 120_000}, async () => {
    const world = await worlds.make();
    const supervisord = await startSupervisord();
    daemons.push(supervisord);
    await world.writeConfig({supervisor: {type: 'supervisord', programs: [world.app], configFile: supervisord.configFile}});
    await world.publish(appRelease('1.0.0', {app: world.app}));
    const result = await parako(world, ['update', '--json'], {timeoutMs: 90_000});
    expectExit(result, 8);
    expect(jsonOf(result).message).toMatch(
      `but the service did not come up: restart hook of ${PLUGIN} failed: supervisord has no program ${world.app}; supervisor.programs must name programs from its config (it runs nothing)`,
    );
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect((await parako(world, ['status'])).stdout).not.toContain('failed health');
  });

  it('the dry run plan names the program it would restart', {timeout: 120_000}, async () => {
    const {world} = await supervisordWorld();
    await world.publish(appRelease('1.1.0', {app: world.app}));
    const result = await parako(world, ['update', '--dry-run']);
    expectExit(result, 0);
    expect(result.stdout).toContain(`restart: supervisord program ${world.app}`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });
});

describe('the supervisor section of supervisord', () => {
  it('an unknown key or no programs exits 2 naming the keys, before anything is fetched', async () => {
    const world = await worlds.make();
    await world.writeConfig({supervisor: {type: 'supervisord', programs: [], configFile: '/etc/supervisor/supervisord.conf', units: ['demo-app']}});
    const result = await parako(world, ['update']);
    expectExit(result, 2);
    expect(result.stderr).toContain('supervisor.programs: Too small: expected array to have >=1 items');
    expect(result.stderr).toContain('supervisor: unknown key "units"');
    expect(await currentTarget(world)).toBeUndefined();
  });
});
