/**
 * The pm2 supervisor plugin against a real pm2 (from npm, node_modules/.bin) running the test
 * app from `<dir>/current` in cluster mode, the way templates/pm2/ecosystem.config.cjs sets an
 * operator up: an update reloads it to the new release; a release that crashes at start,
 * crash-loops after coming up, or answers unhealthy is rolled back automatically (exit 7)
 * and the old release answers again; pm2 is driven as the apps' user (runAs); and reloads
 * under a request loop lose (almost) no requests.
 *
 * Every test has its own pm2 daemon with a private PM2_HOME, given to every pm2 call (even
 * `pm2 --version` starts a daemon), and kills it afterwards by PM2_HOME and by pid.
 */
import {chmod, chown, mkdtemp, readFile, writeFile} from 'node:fs/promises';
import {Agent, request} from 'node:http';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

import pino from 'pino';
import {afterEach, describe, expect, it} from 'vitest';

import {execCommand, type ExecResult, lookupUser} from '../../src/core/exec.js';
import {appRelease, freePort} from '../fixtures/app.js';
import {type CliResult, repoRoot} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {TEST_USER, testUserMissing} from '../fixtures/test-user.js';
import {pidsWithEnv, stopPm2Home} from '../fixtures/pm2-home.js';
import {currentTarget, exists, expectExit, explain, history, jsonOf, parako, useSignedWorlds} from './helpers.js';

const PM2 = join(repoRoot, 'node_modules', '.bin', 'pm2');
const log = pino({level: 'silent'});

/** pm2 is a devDependency; CI (npm ci) always has it. */
const pm2Missing = (await exists(PM2)) ? false : `no ${PM2} (npm install)`;
const userMissing = testUserMissing();
if (process.env.CI === 'true' && (pm2Missing !== false || userMissing !== false)) {
  throw new Error(`CI must provide pm2 and the test user: ${[pm2Missing, userMissing].filter(Boolean).join('; ')}`);
}

/** The CLI finds pm2 on its PATH, as on a host where pm2 is installed globally. */
const CLI_ENV = {PATH: `${dirname(PM2)}:${process.env.PATH ?? ''}`};

/** One private pm2 daemon. */
interface Pm2Daemon {
  home: string;
  /** pm2 with this PM2_HOME, as the daemon's user. */
  run(args: string[]): Promise<ExecResult>;
}

const daemons: Pm2Daemon[] = [];

async function startPm2(user?: string): Promise<Pm2Daemon> {
  const home = await mkdtemp(join(tmpdir(), 'parako-pm2-home-'));
  if (user !== undefined) {
    const ids = lookupUser(user);
    await chown(home, ids.uid, ids.gid);
  }
  const daemon: Pm2Daemon = {
    home,
    run: (args) => execCommand(PM2, args, {runAs: user, cwd: home, env: {PM2_HOME: home}, log, signal: AbortSignal.timeout(30_000)}),
  };
  daemons.push(daemon);
  return daemon;
}

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await stopPm2Home(daemon.home, () => daemon.run(['kill']));
}, 60_000);

const worlds = useSignedWorlds();

interface Pm2World {
  world: SignedWorld;
  pm2: Pm2Daemon;
  port: number;
  healthUrl: string;
}

/**
 * A world with v1.0.0 installed (`--no-restart`) and started under pm2 from the ecosystem
 * file of templates/pm2, running `<dir>/current/server.js` on a free port.
 */
async function pm2World(options: {user?: string} = {}): Promise<Pm2World> {
  const world = await worlds.make();
  const pm2 = await startPm2(options.user);
  const port = await freePort();
  const healthUrl = `http://127.0.0.1:${port}/health`;
  await world.writeConfig({
    supervisor: {type: 'pm2', apps: [world.app], home: pm2.home, ...(options.user === undefined ? {} : {runAs: options.user})},
    health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true},
  });
  await world.publish(appRelease('1.0.0', {app: world.app}));
  expectExit(await parako(world, ['update', '--no-restart'], {env: CLI_ENV}), 0);
  // The apps' user reads the release through the temp dir (mkdtemp makes it 0700).
  if (options.user !== undefined) await chmod(world.root, 0o755);
  await startEcosystem(world, pm2, port);
  expect(await waitForVersion(healthUrl, '1.0.0')).toBe('1.0.0');
  return {world, pm2, port, healthUrl};
}

/** `pm2 start` of an ecosystem file with the app of templates/pm2, as the operator does once. */
async function startEcosystem(world: SignedWorld, pm2: Pm2Daemon, port: number): Promise<void> {
  const ecosystem = join(world.root, 'ecosystem.config.cjs');
  await writeFile(ecosystem, `module.exports = ${JSON.stringify({apps: [ecosystemApp(world, port)]}, null, 2)};\n`, {mode: 0o644});
  const started = await pm2.run(['start', ecosystem]);
  expect(started.code, `pm2 start: ${started.stdout}\n${started.stderr}`).toBe(0);
}

/**
 * The app of templates/pm2/ecosystem.config.cjs (cluster mode, 2 instances, wait_ready),
 * moved to the world's install dir and port. listen_timeout is shortened: a release that
 * never gets ready holds a reload for that long per instance.
 */
function ecosystemApp(world: SignedWorld, port: number): Record<string, unknown> {
  const template = (createRequire(import.meta.url)(join(repoRoot, 'templates', 'pm2', 'ecosystem.config.cjs')) as {apps: Array<Record<string, unknown>>}).apps[0]!;
  expect(template).toMatchObject({exec_mode: 'cluster', instances: 2, wait_ready: true, script: '/opt/parako-id/current/server.js', cwd: '/opt/parako-id/current'});
  return {
    ...template,
    name: world.app,
    script: join(world.dir, 'current', 'server.js'),
    cwd: join(world.dir, 'current'),
    listen_timeout: 3000,
    env: {...(template.env as Record<string, string>), PORT: String(port)},
  };
}

type HealthAnswer = {status: number; body: string} | {error: string};

/** GET /health (on a fresh connection unless an agent is given): status and body, or the network error's code. */
function getHealth(url: string, options: {agent?: Agent | false; timeoutMs?: number} = {}): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    const req = request(url, {agent: options.agent ?? false, timeout: options.timeoutMs ?? 2000}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}));
      res.on('error', (error) => resolve({error: error.message}));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({error: error.code ?? error.message}));
    req.end();
  });
}

/** The version /health reports once it answers 200 (polled for up to `timeoutMs`). */
async function waitForVersion(url: string, wanted: string, timeoutMs = 15_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let seen: string | undefined;
  while (Date.now() < deadline) {
    const answer = await getHealth(url);
    if ('status' in answer && answer.status === 200) {
      seen = (JSON.parse(answer.body) as {version: string}).version;
      if (seen === wanted) return seen;
    }
    await sleep(100);
  }
  return seen;
}

const runAsTitle = `runAs drives the pm2 of another user (${TEST_USER}) with its own PM2_HOME${userMissing ? ` (skipped: ${userMissing})` : ''}`;

describe.skipIf(pm2Missing !== false)(`pm2 supervisor${pm2Missing ? ` (skipped: ${pm2Missing})` : ''}`, () => {
  it('an update reloads the apps and the new version answers', {timeout: 120_000}, async () => {
    const {world, healthUrl} = await pm2World();
    await world.publish(appRelease('1.1.0', {app: world.app}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 0);
    expect(result.stdout).toMatch(/reloaded demo-app: 2 instances online with new pids \d+, \d+/);
    expect(result.stdout).toContain('service restarted');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await waitForVersion(healthUrl, '1.1.0', 2000)).toBe('1.1.0');
  });

  it('a first install with the app not started in pm2 yet: exit 8, current on the release, not marked bad; started as next: says, it answers and updates', {timeout: 120_000}, async () => {
    const world = await worlds.make();
    const pm2 = await startPm2();
    const port = await freePort();
    const healthUrl = `http://127.0.0.1:${port}/health`;
    await world.writeConfig({supervisor: {type: 'pm2', apps: [world.app], home: pm2.home}, health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true}});
    await world.publish(appRelease('1.0.0', {app: world.app}));

    const result = await parako(world, ['update', '--json'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 8);
    const current = join(world.dir, 'current');
    const json = jsonOf(result);
    expect(json).toMatchObject({code: 8, outcome: 'unhealthy', reason: 'unhealthy', from: null, to: '1.0.0'});
    expect(json.message).toMatch(new RegExp(`^v1\\.0\\.0 is installed at ${current}, but the service did not come up: .*has no app named "${world.app}"`));
    expect(json.message).toMatch(/; there is no earlier release to roll back to, so current stays on v1\.0\.0$/);
    expect(json.next).toBe(
      `set up the service so it runs ${current} (docs/supervisors.md), start it, and check that it answers at ${healthUrl}; parako status shows what is installed\n` +
        'v1.0.0 is not marked bad, so parako update does not skip it. A first install on a host whose service is not set up yet is done with parako update --no-restart, then starting the service',
    );
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: null, to: '1.0.0', outcome: 'unhealthy', code: 8});

    // Not a trap: the next update neither skips the only release nor installs it again.
    const again = await parako(world, ['update'], {env: CLI_ENV});
    expectExit(again, 0);
    expect(again.stdout).not.toContain('skipping v1.0.0');
    expect(again.stdout).toContain('already on v1.0.0; nothing to do');
    expect((await parako(world, ['status'])).stdout).not.toContain('failed health');

    // What next: says: start the app so it runs current, and it answers; updates work from then on.
    await startEcosystem(world, pm2, port);
    expect(await waitForVersion(healthUrl, '1.0.0')).toBe('1.0.0');
    await world.publish(appRelease('1.1.0', {app: world.app}));
    expectExit(await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000}), 0);
    expect(await waitForVersion(healthUrl, '1.1.0', 2000)).toBe('1.1.0');
  });

  it('a release that crashes at start is rolled back (exit 7), the old version answers, and update to latest skips it', {timeout: 120_000}, async () => {
    const {world, healthUrl} = await pm2World();
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash'}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 7);
    const said = result.stdout + result.stderr;
    // Usually pm2 has given up by the time it is polled; a poll between two crashes sees a crash loop.
    expect(said, explain(result)).toMatch(/pm2 app demo-app did not stay up: (pm2 shows it errored|it restarted within 3 s|it left the running state within 3 s)/);
    expect(said).toContain('demo-app v1.1.0 cannot start'); // the app's own last words, from pm2 logs
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await waitForVersion(healthUrl, '1.0.0', 2000)).toBe('1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'auto-rolled-back', code: 7});

    const again = await parako(world, ['update'], {env: CLI_ENV});
    expectExit(again, 0);
    expect(again.stdout).toContain('skipping v1.1.0: it failed its health check before');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it("the failure's log excerpt holds only what the new release logged since the restart, not the old release's lines", {timeout: 120_000}, async () => {
    const {world, pm2} = await pm2World();
    // The old release's line is in pm2's logs: `pm2 logs --lines 20` alone would show it.
    expect((await pm2.run(['logs', world.app, '--nostream', '--lines', '20'])).stdout).toContain('demo-app v1.0.0 listening on port');
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash'}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 7);
    const said = expectExcerptSinceRestart(result);
    expect(said).not.toContain('demo-app v1.0.0 listening on port');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a release that comes up and then crash-loops is caught in the settle window (exit 7) although reload returned 0', {timeout: 120_000}, async () => {
    const {world, healthUrl} = await pm2World();
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash-after-ready'}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 7);
    expect(result.stdout + result.stderr, explain(result)).toMatch(
      // Caught either way within the window: a look that sees it restarted, or one that sees the crashed instance stopped.
      /pm2 app demo-app did not stay up: (it (restarted|left the running state) within 3 s of coming up .*\(crash loop\?\)|pm2 shows it (stopped|errored))/,
    );
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await waitForVersion(healthUrl, '1.0.0', 2000)).toBe('1.0.0');
  });

  it('a release that runs but answers unhealthy is rolled back (exit 7) and the old version answers', {timeout: 120_000}, async () => {
    const {world, healthUrl} = await pm2World();
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'unhealthy'}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 7);
    expect(result.stdout + result.stderr).toMatch(/did not become healthy within \d+ s.*HTTP 500/);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(await waitForVersion(healthUrl, '1.0.0', 2000)).toBe('1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({to: '1.1.0', outcome: 'auto-rolled-back', code: 7});
  });

  it.skipIf(userMissing !== false)(runAsTitle, {timeout: 120_000}, async () => {
    const {world, pm2, healthUrl} = await pm2World({user: TEST_USER});
    await world.publish(appRelease('1.1.0', {app: world.app}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 0);
    expect(await waitForVersion(healthUrl, '1.1.0', 2000)).toBe('1.1.0');
    // The daemon and the apps are the user's, and no root daemon appeared in its PM2_HOME.
    const {uid} = lookupUser(TEST_USER);
    const owners = await Promise.all((await pidsWithEnv(`PM2_HOME=${pm2.home}`)).map(async (pid) => uidOf(pid)));
    expect(owners.length).toBeGreaterThanOrEqual(3); // the daemon and 2 instances
    expect(new Set(owners)).toEqual(new Set([uid]));
  });

  it.skipIf(userMissing !== false)(`with runAs, the excerpt reads the apps' user's log files as that user${userMissing ? ` (skipped: ${userMissing})` : ''}`, {timeout: 120_000}, async () => {
    const {world} = await pm2World({user: TEST_USER});
    await world.publish(appRelease('1.1.0', {app: world.app, broken: 'crash'}));
    const result = await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 90_000});
    expectExit(result, 7);
    const said = expectExcerptSinceRestart(result);
    expect(said).not.toContain('could not be read');
    expect(said).not.toContain('demo-app v1.0.0 listening on port');
  });

  it('reloads under a steady request loop lose (almost) no requests', {timeout: 120_000}, async () => {
    const {world, healthUrl} = await pm2World();
    // Every 20 ms until three updates in a row are done (at most 2000 rounds, 40 s): one
    // request on a fresh connection, one on a kept-alive connection (as from a reverse
    // proxy's upstream pool).
    const updates = (async () => {
      for (const version of ['1.1.0', '1.2.0', '1.3.0']) {
        await world.publish(appRelease(version, {app: world.app}));
        expectExit(await parako(world, ['update'], {env: CLI_ENV, timeoutMs: 60_000}), 0);
      }
    })();
    const keepAlive = new Agent({keepAlive: true, maxSockets: 4});
    const fresh: Array<Promise<HealthAnswer>> = [];
    const kept: Array<Promise<HealthAnswer>> = [];
    let done = false;
    void updates.finally(() => (done = true)).catch(() => undefined); // awaited below
    while (!done && fresh.length < 2000) {
      fresh.push(getHealth(healthUrl, {agent: false}));
      kept.push(getHealth(healthUrl, {agent: keepAlive}));
      await sleep(20);
    }
    await updates;
    const report = {fresh: tally(await Promise.all(fresh)), keepAlive: tally(await Promise.all(kept))};
    keepAlive.destroy();
    for (const [client, figures] of Object.entries(report)) {
      console.log(`3 pm2 reloads under load (${client} connections): ${figures.failed} of ${figures.total} requests failed; answered by ${JSON.stringify(figures.versions)}${figures.errors.length > 0 ? `; errors: ${figures.errors.join(', ')}` : ''}`);
    }
    expect(Object.keys(report.fresh.versions).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0', '1.3.0']);
    // Cluster mode measures 0 here; a single fork-mode instance loses about 5 % (ECONNREFUSED
    // while it restarts), so 1 % tells the two apart with room for a slow machine.
    expect(report.fresh.failed / report.fresh.total).toBeLessThan(0.01);
    expect(report.keepAlive.failed / report.keepAlive.total).toBeLessThan(0.01);
  });
});

/** Failed requests (network error or not 200), and how many answers each version gave. */
function tally(answers: HealthAnswer[]): {total: number; failed: number; versions: Record<string, number>; errors: string[]} {
  const versions: Record<string, number> = {};
  const errors = new Set<string>();
  let failed = 0;
  for (const answer of answers) {
    if ('status' in answer && answer.status === 200) {
      const {version} = JSON.parse(answer.body) as {version: string};
      versions[version] = (versions[version] ?? 0) + 1;
    } else {
      failed++;
      errors.add('error' in answer ? answer.error : `HTTP ${answer.status}`);
    }
  }
  return {total: answers.length, failed, versions, errors: [...errors]};
}

async function uidOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

/** The failure's pm2 excerpt: headed as lines since the restart, and holding the new release's crash. Returns all it printed. */
function expectExcerptSinceRestart(result: CliResult): string {
  const said = result.stdout + result.stderr;
  expect(said, explain(result)).toMatch(/\nlog lines since the restart at \d\d:\d\d:\d\d \(read from where pm2's log files ended before it\):\n/);
  expect(said).toContain('demo-app v1.1.0 cannot start');
  return said;
}
