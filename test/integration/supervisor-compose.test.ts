/**
 * The compose supervisor plugin against a real Docker engine and docker-compose (architecture.md §10):
 * an operator's compose project runs the test app from the install dir's `current`; `parako
 * update` restarts it and the new version answers, a broken release is rolled back and the
 * old version answers again, healthchecks are waited for, and `mode: "up"` applies a compose
 * file that ships with the release. Each test has its own world, port and compose project,
 * removed by id afterwards; the image is imported once and kept for the next run.
 */
import {copyFile, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {
  appRelease,
  type AppReleaseOptions,
  ComposeTestProject,
  composeCommand,
  composeFile,
  composeMissing,
  ensureTestImage,
  freePort,
  get,
  waitForAnswer,
} from '../fixtures/compose.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {repoRoot} from '../fixtures/cli.js';
import {currentTarget, explain, expectExit, parako, useSignedWorlds} from './helpers.js';

const missing = composeMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide Docker and docker-compose (.ci/run): ${missing}`);
}

/** What each step took on this machine (vfs storage makes container starts slow), printed at the end. */
const timings: string[] = [];

interface Deployment {
  world: SignedWorld;
  project: ComposeTestProject;
  url: string;
  /** Publishes a release of the test app (with the compose file, when it ships with releases). */
  publish(version: string, opts?: AppReleaseOptions): Promise<void>;
}

interface DeployOptions {
  /** runtime: the operator's file at runtime/compose.yaml (mode restart). release: each release ships compose.yaml (mode up). */
  composeIn?: 'runtime' | 'release';
  healthcheck?: boolean;
  /** The core's health gate; false leaves health.url out, so only the plugin's wait stands between restart and success. */
  health?: false | {timeoutSeconds: number};
}

describe.skipIf(missing !== false)(`compose supervisor, real Docker engine${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const worlds = useSignedWorlds();
  const projects: ComposeTestProject[] = [];

  beforeAll(async () => {
    const image = await ensureTestImage();
    timings.push(`test image: ${image.built ? 'imported' : 'reused'} in ${image.ms} ms`);
  }, 120_000);

  afterEach(async () => {
    for (const project of projects.splice(0)) await project.remove();
  });

  afterAll(() => {
    if (timings.length > 0) console.info(`compose supervisor timings (${composeCommand()?.program}):\n  ${timings.join('\n  ')}`);
  });

  /** v1.0.0 installed with --no-restart, then started by the operator with `compose up -d`. */
  async function deployed(opts: DeployOptions = {}): Promise<Deployment> {
    const world = await worlds.make();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/health`;
    const composeIn = opts.composeIn ?? 'runtime';
    const file = composeIn === 'runtime' ? 'runtime/compose.yaml' : 'current/compose.yaml';
    const project = new ComposeTestProject(join(world.dir, file));
    projects.push(project);
    const health = opts.health ?? {timeoutSeconds: 20};
    await world.writeConfig({
      supervisor: {type: 'compose', file, services: ['web'], ...(composeIn === 'release' ? {mode: 'up'} : {})},
      health: health === false ? undefined : {url, timeoutSeconds: health.timeoutSeconds, expectVersion: true},
    });
    const composeFor = (version: string): string =>
      composeFile({installDir: world.dir, port, healthcheck: opts.healthcheck, environment: composeIn === 'release' ? {RELEASE: version} : {}});
    if (composeIn === 'runtime') {
      await mkdir(project.projectDir, {recursive: true});
      await writeFile(project.file, composeFor('operator'));
      await writeFile(join(project.projectDir, '.env'), project.envFile());
    }
    const publish = async (version: string, releaseOpts: AppReleaseOptions = {}): Promise<void> => {
      const shipped: Record<string, string> = composeIn === 'release' ? {'compose.yaml': composeFor(version), '.env': project.envFile()} : {};
      await world.publish(appRelease(version, {...releaseOpts, files: {...shipped, ...releaseOpts.files}}));
    };
    await publish('1.0.0');
    expectExit(await parako(world, ['update', '--no-restart']), 0);
    const started = Date.now();
    await project.up();
    const upMs = Date.now() - started;
    const answerMs = await waitForAnswer(url, '"1.0.0"');
    timings.push(`compose up -d: ${upMs} ms, then first answer after ${answerMs} ms more`);
    return {world, project, url, publish};
  }

  async function update(deployment: Deployment, label: string, expected: number): Promise<string> {
    const started = Date.now();
    const result = await parako(deployment.world, ['update'], {timeoutMs: 90_000});
    timings.push(`parako update (${label}): ${Date.now() - started} ms`);
    expectExit(result, expected);
    return `${result.stdout}\n${result.stderr}`;
  }

  async function answer(url: string): Promise<string> {
    const response = await get(url);
    expect(response).toMatchObject({status: 200});
    return 'body' in response ? response.body : '';
  }

  it('an update restarts the service and the new version answers', async () => {
    const deployment = await deployed();
    const before = await deployment.project.container('web');
    await deployment.publish('1.1.0');
    const output = await update(deployment, 'restart', 0);
    expect(output).toMatch(/docker[ -]compose restart web: 1 container up and stable for 3 s/);
    expect(await answer(deployment.url)).toContain('"1.1.0"');
    const after = await deployment.project.container('web');
    expect(after.Id).toBe(before.Id); // restarted, not recreated
    expect(Date.parse(after.State.StartedAt)).toBeGreaterThan(Date.parse(before.State.StartedAt));
    expect(after.State.Status).toBe('running');
  });

  it('a release whose container crash-loops is rolled back (exit 7): the failing service, its state and its logs are shown, and the old version answers again', async () => {
    const deployment = await deployed();
    await deployment.publish('1.1.0', {broken: 'crash'});
    const output = await update(deployment, 'crash-loop, rolled back', 7);
    // Caught between two of Docker's restarts it is restarting or exited (exit code 1); caught
    // just after one, it is running but restarted by Docker since parako's restart.
    expect(output).toMatch(/service web is not up after `docker[ -]compose restart web`: container \S+ is ((restarting|exited) \(exit code 1|running \(restarted \d+ times? by Docker)/);
    expect(output).toContain('demo-app v1.1.0: cannot start: the configuration is invalid');
    expect(await currentTarget(deployment.world)).toBe('releases/v1.0.0');
    expect(await answer(deployment.url)).toContain('"1.0.0"');
    expect((await deployment.project.container('web')).State).toMatchObject({Status: 'running'});
  });

  it("the failure's log excerpt holds only what the container logged since parako's restart, not the old release's lines", async () => {
    const deployment = await deployed();
    // The old release's line is in the container's log: `logs --tail 20` alone would show it.
    expect(await deployment.project.compose(['logs', '--no-color', 'web'])).toContain('demo-app v1.0.0 starting on port');
    await deployment.publish('1.1.0', {broken: 'crash'});
    const output = await update(deployment, 'crash-loop, excerpt since the restart', 7);
    expect(output).toMatch(/\nlog lines since the restart at \d\d:\d\d:\d\d \(docker logs --since \S+Z --tail 20 \S+\):\n/);
    expect(output).toContain('demo-app v1.1.0: cannot start: the configuration is invalid');
    expect(output).toContain('demo-app v1.1.0 starting on port');
    expect(output).not.toContain('demo-app v1.0.0 starting on port');
  });

  it('a release that runs but fails the health gate (HTTP 404) is rolled back (exit 7) and the old version answers again', async () => {
    const deployment = await deployed({health: {timeoutSeconds: 3}});
    await deployment.publish('1.1.0', {broken: 'no-health'});
    const output = await update(deployment, 'health 404, rolled back', 7);
    expect(output).toContain('last answer HTTP 404');
    expect(await currentTarget(deployment.world)).toBe('releases/v1.0.0');
    expect(await answer(deployment.url)).toContain('"1.0.0"');
  });

  it('with a healthcheck, the restart waits until the container is healthy', async () => {
    // No health.url: the plugin's wait is all that stands between the restart and success.
    const deployment = await deployed({healthcheck: true, health: false});
    await deployment.publish('1.1.0', {startDelaySeconds: 2});
    const output = await update(deployment, 'healthcheck, 2 s slow start', 0);
    expect(output).toMatch(/restart web: 1 container up and stable/);
    expect((await deployment.project.container('web')).State.Health?.Status).toBe('healthy');
    expect(await answer(deployment.url)).toContain('"1.1.0"');
  });

  it('with a healthcheck, a release whose container turns unhealthy is rolled back (exit 7)', async () => {
    const deployment = await deployed({healthcheck: true, health: false});
    await deployment.publish('1.1.0', {broken: 'no-health'});
    const output = await update(deployment, 'healthcheck unhealthy, rolled back', 7);
    expect(output).toMatch(/service web is not up after `docker[ -]compose restart web`: container \S+ is running \(health: unhealthy/);
    expect(await currentTarget(deployment.world)).toBe('releases/v1.0.0');
    expect((await deployment.project.container('web')).State.Health?.Status).toBe('healthy');
    expect(await answer(deployment.url)).toContain('"1.0.0"');
  });

  it('mode "up" applies the compose file that ships with the release, recreating the container', async () => {
    const deployment = await deployed({composeIn: 'release'});
    const before = await deployment.project.container('web');
    expect(before.Config.Env).toContain('RELEASE=1.0.0');
    await deployment.publish('1.1.0');
    const output = await update(deployment, 'mode up', 0);
    expect(output).toMatch(/docker[ -]compose up -d --no-deps --force-recreate web: 1 container up and stable/);
    const after = await deployment.project.container('web');
    expect(after.Id).not.toBe(before.Id);
    expect(after.Config.Env).toContain('RELEASE=1.1.0');
    expect(await answer(deployment.url)).toContain('"1.1.0"');
  });

  it('a service the operator never started is named, with the command that starts it (exit 8: the previous release cannot start either)', async () => {
    const deployment = await deployed();
    await deployment.project.compose(['rm', '--stop', '--force', 'web']);
    await deployment.publish('1.1.0');
    const result = await parako(deployment.world, ['update']);
    expectExit(result, 8);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output, explain(result)).toMatch(/service web has no container in the project of \S+runtime\/compose\.yaml: start it once with `docker[ -]compose -f \S+ --project-directory \S+ up -d web`/);
    expect(await currentTarget(deployment.world)).toBe('releases/v1.0.0');
  });

  it('the operator template (templates/compose/compose.yaml) is a valid compose file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parako-compose-template-'));
    try {
      await copyFile(join(repoRoot, 'templates', 'compose', 'compose.yaml'), join(dir, 'compose.yaml'));
      await writeFile(join(dir, 'app.env'), ''); // the env_file it names
      const project = new ComposeTestProject(join(dir, 'compose.yaml'));
      const config = await project.compose(['config']);
      expect(config).toContain('/opt/parako-id');
      expect(config).toContain('/srv/app/current');
      expect(config).toMatch(/healthcheck:/);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
