/**
 * The scaffold as a developer meets it: `parako init-plugin` makes a package that installs,
 * builds and passes its own test as generated, and once linked on a host its health hook
 * fires in a real `parako update`, where an unhealthy answer rolls the update back.
 */
import {spawn} from 'node:child_process';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {repoRoot, runParako} from '../fixtures/cli.js';
import {makeSignedWorld, type SignedWorld} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import {snapshotTree} from '../fixtures/tree.js';
import {currentTarget, expectExit, history, jsonOf, parako} from './helpers.js';

const NAME = 'parako-plugin-probe';
/** npm install fetches typescript, vitest and @types/node (from the local cache when it can). */
const INSTALL_TIMEOUT_MS = 200_000;

let sigstore: TestSigstore;
let workDir: string;
let pluginRoot: string;
let initOutput: string;
let world: SignedWorld | undefined;
let service: Service | undefined;

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
  workDir = await mkdtemp(join(tmpdir(), 'parako-scaffold-'));
  pluginRoot = join(workDir, 'probe');
  const made = await runParako(['init-plugin', pluginRoot, '--name', NAME]);
  expectExit(made, 0);
  initOutput = made.stdout;
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline'], pluginRoot, INSTALL_TIMEOUT_MS);
  await npm(['run', 'build'], pluginRoot);
}, 240_000);

afterAll(async () => {
  await sigstore?.close();
  if (workDir !== undefined) await rm(workDir, {recursive: true, force: true});
});

afterEach(async () => {
  await service?.close();
  service = undefined;
  await world?.cleanup();
  world = undefined;
});

describe('parako init-plugin', () => {
  it('fills in the name and this parako as the build-time dependency, and prints the next steps', async () => {
    const pjson = JSON.parse(await readFile(join(pluginRoot, 'package.json'), 'utf8')) as {name: string; devDependencies: Record<string, string>; oclif: {hooks: Record<string, string>}};
    expect(pjson.name).toBe(NAME);
    expect(pjson.devDependencies.parako).toBe(`file:${repoRoot}`);
    expect(pjson.oclif.hooks).toEqual({health: './dist/hooks/health.js', notify: './dist/hooks/notify.js'});
    for (const file of ['README.md', 'src/hooks/health.ts', 'test/hooks.test.ts']) {
      const text = await readFile(join(pluginRoot, file), 'utf8');
      expect(text, file).not.toMatch(/__[A-Z_]+__/);
    }
    expect(await readFile(join(pluginRoot, '.gitignore'), 'utf8')).toContain('node_modules/');
    expect(initOutput).toContain(`created plugin ${NAME} in ${pluginRoot}`);
    expect(initOutput).toContain(`next: cd ${pluginRoot} && npm install && npm run build && npm test && parako plugins link ${pluginRoot}`);
  });

  it('refuses a folder that is not empty: exit 2, nothing written', async () => {
    const dir = join(workDir, 'taken');
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine\n');
    const before = await snapshotTree(dir);
    const result = await runParako(['init-plugin', dir]);
    expectExit(result, 2);
    expect(result.stderr).toContain(`${dir} already exists and is not empty; nothing was written`);
    expect(await snapshotTree(dir)).toEqual(before);
  });

  it('refuses a name npm would not accept: exit 2, nothing written', async () => {
    const dir = join(workDir, 'bad-name');
    const result = await runParako(['init-plugin', dir, '--name', 'Parako Probe']);
    expectExit(result, 2);
    expect(result.stderr).toContain('"Parako Probe" is not a valid npm package name');
    expect(await snapshotTree(dir)).toEqual(new Map());
  });

  it('is listed by parako --help', async () => {
    const result = await runParako(['--help']);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/init-plugin\s+Create an in-house plugin package/);
  });
});

describe('the scaffolded plugin', () => {
  it('passes its own test as generated', async () => {
    await npm(['test'], pluginRoot);
  });

  it('packed and installed as docs/plugins/writing.md says, passes the plugin file check with no extra step', async () => {
    const store = join(workDir, 'installed-store');
    await npm(['pack', '--pack-destination', workDir], pluginRoot);
    const {version} = JSON.parse(await readFile(join(pluginRoot, 'package.json'), 'utf8')) as {version: string};
    const tarball = join(workDir, `${NAME}-${version}.tgz`);
    const env = {PARAKO_DATA_DIR: store, npm_config_offline: 'true'};
    const install = await runParako(['plugins', 'install', tarball], {env, timeoutMs: 120_000});
    expectExit(install, 0);
    expect(install.stderr).not.toContain('WARNING');
    const hooks = await runParako(['hooks', '--json', '--dir', join(workDir, 'no-install')], {env});
    expectExit(hooks, 0);
    expect(hooks.stderr).toBe('');
    const listing = jsonOf(hooks) as {notLoaded: unknown[]; plugins: Array<{plugin: string; origin: string; files: string}>};
    expect(listing.notLoaded).toEqual([]);
    expect(listing.plugins.find((plugin) => plugin.plugin === NAME)).toMatchObject({origin: 'installed', files: 'root-only'});
  });

  it('linked, its health hook probes the configured URL during an update, and notify logs the outcome', async () => {
    service = await startService(() => 200);
    world = await pluginWorld(service.url);
    const linked = await linkPlugin(world);
    await world.publish({version: '1.0.0'});
    expectExit(await parako(world, ['update'], {env: linked}), 0);
    await world.publish({version: '1.1.0'});

    expectExit(await parako(world, ['update'], {env: linked}), 0);
    expect(service.requests).toBe(2); // once per update
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    const log = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    expect(log).toMatch(new RegExp(`"plugin":"${NAME}","hook":"health".*"msg":"probe passed"`));
    expect(log).toMatch(new RegExp(`"plugin":"${NAME}","hook":"notify".*"outcome":"updated","code":0`));
  });

  it('a 500 from the probed URL makes the update unhealthy: rolled back automatically, exit 7', async () => {
    // The service is broken in v1.1.0 only: it answers 500 while current points there.
    service = await startService(async () => ((await currentTarget(world!)) === 'releases/v1.1.0' ? 500 : 200));
    world = await pluginWorld(service.url);
    const linked = await linkPlugin(world);
    await world.publish({version: '1.0.0'});
    expectExit(await parako(world, ['update'], {env: linked}), 0);
    await world.publish({version: '1.1.0'});

    const result = await parako(world, ['update'], {env: linked});
    expectExit(result, 7);
    expect(result.stderr).toContain(`health hook of ${NAME} failed: GET ${service.url} answered HTTP 500, expected 2xx`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(service.requests).toBe(3); // v1.0.0 passed; v1.1.0 failed; v1.0.0 passed again after the rollback
    const log = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
    expect(log).toMatch(new RegExp(`"plugin":"${NAME}","hook":"notify".*"outcome":"auto-rolled-back","code":7`));
  });

  it('a 500 on a first install leaves current on the release, says how to bring the service up, and does not mark it bad: exit 8', async () => {
    service = await startService(() => 500);
    world = await pluginWorld(service.url);
    await world.publish({version: '1.0.0'});

    const result = await parako(world, ['update'], {env: await linkPlugin(world)});
    expectExit(result, 8);
    const current = join(world.dir, 'current');
    expect(result.stderr).toContain(
      `parako: v1.0.0 is installed at ${current}, but the service did not come up: health hook of ${NAME} failed: GET ${service.url} answered HTTP 500, expected 2xx; ` +
        'there is no earlier release to roll back to, so current stays on v1.0.0\n',
    );
    expect(result.stderr).toContain(`next: set up the service so it runs ${current} (docs/supervisors.md), start it, and check that it answers; parako status shows what is installed\n`);
    expect(result.stderr).toContain(
      'v1.0.0 is not marked bad, so parako update does not skip it. A first install on a host whose service is not set up yet is done with parako update --no-restart, then starting the service',
    );
    expect(result.stdout).not.toContain('is unhealthy'); // no rollback to announce
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: null, to: '1.0.0', outcome: 'unhealthy', code: 8});

    // The release is not a trap: the next update has nothing to do, and status marks nothing failed.
    const again = await parako(world, ['update', '--json'], {env: await linkPlugin(world)});
    expectExit(again, 0);
    expect(jsonOf(again)).toMatchObject({outcome: 'up-to-date', message: 'already on v1.0.0; nothing to do'});
    const status = await parako(world, ['status']);
    expect(status.stdout).toContain('current:     v1.0.0');
    expect(status.stdout).not.toContain('failed health');
  });
});

/** A world whose parako.json configures the plugin to probe `url`. */
async function pluginWorld(url: string): Promise<SignedWorld> {
  const made = await makeSignedWorld({sigstore});
  await made.writeConfig({plugins: {[NAME]: {url, timeoutSeconds: 5}}});
  return made;
}

/**
 * Links the scaffolded plugin the way `parako plugins link` does: a `link` entry in the oclif
 * data dir's package.json. Returns the env that points parako at that data dir.
 */
async function linkPlugin(into: SignedWorld): Promise<Record<string, string>> {
  const dataDir = join(into.root, 'oclif-data');
  await mkdir(dataDir, {recursive: true});
  const pjson = {private: true, oclif: {schema: 1, plugins: [{type: 'link', name: NAME, root: pluginRoot}]}};
  await writeFile(join(dataDir, 'package.json'), JSON.stringify(pjson, null, 2));
  return {PARAKO_DATA_DIR: dataDir};
}

interface Service {
  url: string;
  /** Requests answered so far. */
  requests: number;
  close(): Promise<void>;
}

/** The operator's service on 127.0.0.1, answering every request with the status `answer` gives. */
async function startService(answer: () => number | Promise<number>): Promise<Service> {
  const state = {requests: 0};
  const server: Server = createServer((_request, response) => {
    state.requests++;
    void Promise.resolve(answer()).then((status) => response.writeHead(status).end(status < 300 ? 'ready\n' : 'broken\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`;
  return {
    url,
    get requests() {
      return state.requests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs npm in `cwd`; fails the test with npm's output when it exits nonzero. */
async function npm(args: string[], cwd: string, timeoutMs = 60_000): Promise<void> {
  // npm and the plugin's own vitest must not inherit this vitest's mode (NODE_ENV=test, VITEST_*).
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(VITEST.*|TEST|NODE_ENV)$/.test(key)));
  const child = spawn('npm', args, {cwd, env: {...env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL'});
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  expect(code, `npm ${args.join(' ')} in ${cwd} exited ${code}\n${output}`).toBe(0);
}
