/**
 * docker compose under load: the compose test app (busybox httpd in a tiny image imported from
 * busybox-static, test/fixtures/compose.ts; no registry is needed) in an operator's
 * runtime/compose.yaml cut down from templates/compose/compose.yaml (host network, `init:
 * true`), restarted by the compose plugin in each of its modes:
 *
 * - `restart` (the default): `<compose> restart <service>`, the same container stopped and
 *   started again;
 * - `up`: `<compose> up -d --no-deps --force-recreate <service>`, a new container.
 *
 * Both stop the one container that listens before a new process listens, so both leave a gap
 * with nothing on the port; the figures measure how long. Each scenario is its own compose
 * project, removed by its label afterwards.
 */
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {ComposeTestProject, appRelease, composeCommand, composeFile, composeMissing as fixtureComposeMissing, ensureTestImage, freePort} from '../../test/fixtures/compose.js';
import {type DowntimeOptions, NEW_VERSION, OLD_VERSION, type ScenarioResult, measureCycles, parako, row, signedFeed, waitForVersion, withCleanup} from './scenario.js';

export const composeMissing = fixtureComposeMissing;

interface ComposeSetup {
  mode: string;
  supervisorMode: 'restart' | 'up';
}

export const COMPOSE_SETUPS: ComposeSetup[] = [
  {mode: 'restart (default)', supervisorMode: 'restart'},
  {mode: 'up (--force-recreate)', supervisorMode: 'up'},
];

export async function runComposeDowntime(opts: DowntimeOptions): Promise<ScenarioResult[]> {
  await ensureTestImage();
  const results: ScenarioResult[] = [];
  for (const setup of COMPOSE_SETUPS) results.push(await composeScenario(setup, opts));
  return results;
}

async function composeScenario(setup: ComposeSetup, opts: DowntimeOptions): Promise<ScenarioResult> {
  opts.progress(`compose ${setup.mode} (${composeCommand()?.program ?? 'no compose CLI'}): ${opts.cycles} update + rollback cycle(s) under ${opts.ratePerSecond} requests/s`);
  const world = await signedFeed([appRelease(OLD_VERSION), appRelease(NEW_VERSION)]);
  const file = 'runtime/compose.yaml';
  const project = new ComposeTestProject(join(world.dir, file));
  const cleanup = async (): Promise<void> => {
    await project.remove();
    await world.cleanup();
  };
  return withCleanup(cleanup, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/health`;
    await world.writeConfig({
      supervisor: {type: 'compose', file, services: ['web'], mode: setup.supervisorMode},
      health: {url, timeoutSeconds: 30, expectVersion: true},
    });
    await mkdir(project.projectDir, {recursive: true});
    const composeYaml = composeFile({installDir: world.dir, port});
    await writeFile(project.file, composeYaml);
    await writeFile(join(project.projectDir, '.env'), project.envFile());
    await parako(world, ['update', '--no-restart', '--version', OLD_VERSION]);
    await project.up();
    await waitForVersion(url, OLD_VERSION);
    const {measurement, loadAverage} = await measureCycles(world, url, opts);
    return {
      row: row(`docker compose (${composeCommand()?.program ?? '?'})`, setup.mode, opts.cycles, measurement),
      measurement,
      loadAverage,
      setup: {composeFile: composeYaml, supervisor: {type: 'compose', mode: setup.supervisorMode}},
    };
  });
}
