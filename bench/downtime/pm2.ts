/**
 * pm2 under load: the app of templates/pm2/server.js (released as each release's server.js),
 * started from templates/pm2/ecosystem.config.cjs moved to the temp install dir and a free
 * port, in two set-ups:
 *
 * - fork mode, 1 instance, `supervisor.mode: "restart"`: what a user who never read the pm2
 *   page may pick;
 * - cluster mode, 2 instances, `reload` (the template as shipped).
 *
 * Each runs its own pm2 daemon (the devDependency in node_modules/.bin) with a private
 * PM2_HOME, killed afterwards: `pm2 kill`, then by pid whatever still carries that PM2_HOME.
 */
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, writeFile} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

import {freePort} from '../../test/fixtures/app.js';
import {repoRoot} from '../../test/fixtures/cli.js';
import {stopPm2Home} from '../../test/fixtures/pm2-home.js';
import {type DowntimeOptions, NEW_VERSION, OLD_VERSION, type ScenarioResult, measureCycles, parako, row, signedFeed, waitForVersion, withCleanup} from './scenario.js';

const run = promisify(execFile);
export const PM2 = join(repoRoot, 'node_modules', '.bin', 'pm2');
const TEMPLATE_DIR = join(repoRoot, 'templates', 'pm2');

/** Why pm2 cannot be measured here, or false. */
export function pm2Missing(): string | false {
  return existsSync(PM2) ? false : `no ${PM2} (npm ci installs pm2, a devDependency)`;
}

interface Pm2Setup {
  mode: string;
  execMode: 'fork' | 'cluster';
  instances: number;
  supervisorMode: 'reload' | 'restart';
}

export const PM2_SETUPS: Pm2Setup[] = [
  {mode: 'fork, 1 instance, restart', execMode: 'fork', instances: 1, supervisorMode: 'restart'},
  {mode: 'cluster, 2 instances, reload (template)', execMode: 'cluster', instances: 2, supervisorMode: 'reload'},
];

export async function runPm2Downtime(opts: DowntimeOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const setup of PM2_SETUPS) results.push(await pm2Scenario(setup, opts));
  return results;
}

async function pm2Scenario(setup: Pm2Setup, opts: DowntimeOptions): Promise<ScenarioResult> {
  opts.progress(`pm2 ${setup.mode}: ${opts.cycles} update + rollback cycle(s) under ${opts.ratePerSecond} requests/s`);
  const server = await readFile(join(TEMPLATE_DIR, 'server.js'), 'utf8');
  const world = await signedFeed([OLD_VERSION, NEW_VERSION].map((version) => ({version, files: {'server.js': server}})));
  const home = await mkdtemp(join(tmpdir(), 'parako-bench-pm2-'));
  // parako finds pm2 on its PATH, as on a host with pm2 installed globally.
  const env = {PATH: `${join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`};
  const cleanup = async (): Promise<void> => {
    await stopPm2(home);
    await world.cleanup();
  };
  return withCleanup(cleanup, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/health`;
    await world.writeConfig({
      supervisor: {type: 'pm2', apps: [world.app], home, mode: setup.supervisorMode},
      health: {url, timeoutSeconds: 30, expectVersion: true},
    });
    await parako(world, ['update', '--no-restart', '--version', OLD_VERSION], env);
    const app = ecosystemApp(setup, world.app, join(world.dir, 'current'), port);
    const ecosystem = join(world.root, 'ecosystem.config.cjs');
    await writeFile(ecosystem, `module.exports = ${JSON.stringify({apps: [app]}, null, 2)};\n`);
    await pm2(home, ['start', ecosystem]);
    await waitForVersion(url, OLD_VERSION);
    const {measurement, loadAverage} = await measureCycles(world, url, opts, env);
    return {row: row('pm2', setup.mode, opts.cycles, measurement), measurement, loadAverage, setup: {ecosystem: app, supervisor: {type: 'pm2', mode: setup.supervisorMode}}};
  });
}

/**
 * The template's app, moved to this install dir and port; fork mode changes exec_mode and
 * instances only, so the two set-ups differ in nothing else.
 */
function ecosystemApp(setup: Pm2Setup, name: string, current: string, port: number): Record<string, unknown> {
  const template = (createRequire(import.meta.url)(join(TEMPLATE_DIR, 'ecosystem.config.cjs')) as {apps: Array<Record<string, unknown>>}).apps[0]!;
  if (template.exec_mode !== 'cluster' || template.script !== '/opt/parako-id/current/server.js') {
    throw new Error('templates/pm2/ecosystem.config.cjs no longer runs /opt/parako-id/current/server.js in cluster mode: update bench/downtime/pm2.ts');
  }
  return {
    ...template,
    name,
    script: join(current, 'server.js'),
    cwd: current,
    exec_mode: setup.execMode,
    instances: setup.instances,
    env: {...(template.env as Record<string, string>), PORT: String(port)},
  };
}

async function pm2(home: string, args: string[]): Promise<string> {
  const {stdout} = await run(PM2, args, {env: {...process.env, PM2_HOME: home}, timeout: 60_000});
  return stdout;
}

/** pm2 with this PM2_HOME stopped for good (test/fixtures/pm2-home.ts). */
function stopPm2(home: string): Promise<void> {
  return stopPm2Home(home, () => pm2(home, ['kill']));
}

