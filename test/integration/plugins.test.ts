/**
 * Per-host plugins through the real CLI (architecture.md §1, §5): `parako plugins link / install /
 * uninstall` (oclif's plugin-plugins) writing a plugin store (PARAKO_DATA_DIR, a fresh one per
 * test), `parako hooks` listing what runs where and in which order, installed plugins firing
 * in a real update, and plugins that `import {defineHook} from 'parako'` with no copy of
 * parako of their own getting the SDK of the parako that runs them.
 */
import {execFile, spawn} from 'node:child_process';
import {access, copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';
import {promisify} from 'node:util';

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';

import {HOOK_POINTS} from '../../src/core/config.js';
import {cleanEnv, type CliResult, repoRoot, runParako} from '../fixtures/cli.js';
import {makeRecordingPlugin} from '../fixtures/plugin.js';
import {makeSignedWorld, type SignedWorld} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import {expectExit, explain, jsonOf, parako} from './helpers.js';

const SDK_URL = pathToFileURL(join(repoRoot, 'dist', 'index.js')).href;

let sigstore: TestSigstore;
let world: SignedWorld | undefined;
let root: string;
/** The plugin store of this test: PARAKO_DATA_DIR. */
let store: string;
let storeEnv: Record<string, string>;

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
});
afterAll(async () => {
  await sigstore.close();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'parako-plugins-'));
  store = join(root, 'store');
  // npm must not need the registry: the plugins installed here have no dependencies.
  storeEnv = {PARAKO_DATA_DIR: store, npm_config_offline: 'true'};
});
afterEach(async () => {
  await world?.cleanup();
  world = undefined;
  await rm(root, {recursive: true, force: true});
});

interface ListedHook {
  plugin: string;
  version: string;
  origin: string;
  root: string;
  acts: boolean;
  idle?: string;
}

interface HooksListing {
  hooks: Record<string, ListedHook[]>;
  timeoutSeconds: Record<string, number>;
  order: string[] | null;
  config: string | null;
  dataDir: string;
  notLoaded: Array<{plugin: string; type: string; root?: string}>;
  /** Added by listHooks: the first-party plugins of each point, which `hooks` leaves out. */
  firstParty: Record<string, string[]>;
}

/** `parako hooks --json --dir <dir>`; the dir needs no parako.json. */
async function listHooks(dir: string, env: Record<string, string> = storeEnv): Promise<HooksListing> {
  const result = await runParako(['hooks', '--json', '--dir', dir], {env});
  expectExit(result, 0);
  const listing = jsonOf(result) as unknown as HooksListing;
  // parako's own supervisor and backup plugins are everywhere; these tests look at the others.
  const firstParty = Object.fromEntries(Object.entries(listing.hooks).map(([point, hooks]) => [point, hooks.filter((hook) => hook.origin === 'first-party').map((hook) => hook.plugin)]));
  const hooks = Object.fromEntries(Object.entries(listing.hooks).map(([point, list]) => [point, list.filter((hook) => hook.origin !== 'first-party')]));
  return {...listing, hooks, firstParty} as HooksListing;
}

/** Which plugins each point lists, in run order. */
function pluginsByPoint(listing: HooksListing): Record<string, string[]> {
  return Object.fromEntries(Object.entries(listing.hooks).map(([point, hooks]) => [point, hooks.map((hook) => hook.plugin)]));
}

interface ProbeCall {
  plugin: string;
  point: string;
  operation: string;
  /** What `parako` resolved to inside the plugin. */
  sdk: string;
  hookPoints: number;
}

/**
 * A plugin package in plain JavaScript, no dependencies, and no parako of its own: each hook
 * imports defineHook from 'parako' and appends a line to `record`.
 */
async function writeProbePlugin(dir: string, name: string, opts: {version?: string; points?: readonly string[]; record: string}): Promise<string> {
  const pluginRoot = join(dir, name.replace('/', '__'));
  const points = opts.points ?? HOOK_POINTS;
  await mkdir(join(pluginRoot, 'hooks'), {recursive: true});
  const hooks = Object.fromEntries(points.map((point) => [point, `./hooks/${point}.js`]));
  await writeFile(
    join(pluginRoot, 'package.json'),
    JSON.stringify({name, version: opts.version ?? '2.0.1', type: 'module', files: ['hooks'], oclif: {hooks}}, null, 2),
  );
  for (const point of points) {
    await writeFile(
      join(pluginRoot, 'hooks', `${point}.js`),
      `import {appendFileSync} from 'node:fs';
import {defineHook, HOOK_POINTS} from 'parako';

export default defineHook(${JSON.stringify(point)}, async ({ctx}) => {
  appendFileSync(${JSON.stringify(opts.record)}, JSON.stringify({
    plugin: ${JSON.stringify(name)}, point: ctx.point, operation: ctx.operation,
    sdk: import.meta.resolve('parako'), hookPoints: HOOK_POINTS.length,
  }) + '\\n');
});
`,
    );
  }
  return pluginRoot;
}

async function readCalls(record: string): Promise<ProbeCall[]> {
  const text = await readFile(record, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ProbeCall);
}

/** `npm pack` of a plugin folder, as its author would publish it; returns the tarball's path. */
async function npmPack(pluginRoot: string, outDir: string): Promise<string> {
  await mkdir(outDir, {recursive: true});
  const {stdout} = await promisify(execFile)('npm', ['pack', '--json', '--pack-destination', outDir], {cwd: pluginRoot});
  const [packed] = JSON.parse(stdout) as Array<{filename: string}>;
  return join(outDir, packed!.filename);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A world with v1.0.0 installed by the real CLI (no plugins yet) and v1.1.0 published. */
async function installedWorld(config: Record<string, unknown> = {}): Promise<SignedWorld> {
  world = await makeSignedWorld({sigstore});
  await world.writeConfig(config);
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update'], {env: storeEnv}), 0);
  await world.publish({version: '1.1.0'});
  return world;
}

describe('parako plugins link', () => {
  it('a plugin linked from a folder is listed as linked, with its root, under every hook point', async () => {
    const plugin = await makeRecordingPlugin(root, 'parako-plugin-recorder');
    expectExit(await runParako(['plugins', 'link', plugin.root], {env: storeEnv}), 0);

    const list = await runParako(['plugins'], {env: storeEnv});
    expectExit(list, 0);
    expect(list.stdout).toContain(`parako-plugin-recorder 1.2.3 (link) ${plugin.root}`);

    const listing = await listHooks(join(root, 'no-install-dir'));
    expect(listing.dataDir).toBe(store);
    const linked = {plugin: 'parako-plugin-recorder', version: '1.2.3', origin: 'linked', root: plugin.root, acts: true};
    for (const point of HOOK_POINTS) {
      // parako's own supervisor plugins implement restart and run first there.
      expect(listing.hooks[point]!.filter((hook) => hook.origin !== 'first-party'), point).toEqual([linked]);
    }
    expect(listing.firstParty.restart).toEqual(['@parako/plugin-compose', '@parako/plugin-pm2', '@parako/plugin-supervisord', '@parako/plugin-systemd']);
    expect(listing.firstParty['pre-swap']).toEqual(['@parako/plugin-backup-mongo', '@parako/plugin-backup-mysql', '@parako/plugin-backup-postgres', '@parako/plugin-backup-sqlite']);
    expect(listing.firstParty.notify).toEqual(['@parako/plugin-notify-webhook']);

    const human = await runParako(['hooks', '--dir', join(root, 'no-install-dir')], {env: storeEnv});
    expectExit(human, 0);
    expect(human.stdout).toContain(`plugin store: ${store}`);
    expect(human.stdout).toContain('no parako.json in');
    // pre-swap: the linked plugin runs; the three first-party backup plugins are idle without a parako.json.
    expect(human.stdout).toMatch(new RegExp(`pre-swap  \\(timeout 3600 s, fail-closed\\)\\n  1\\. parako-plugin-recorder +1\\.2\\.3  linked +acts  ${plugin.root}\\n(  - +@parako/.* idle \\(no parako\\.json\\)\\n){4}`));
  });

  it('parako hooks says (none) for every point no plugin implements, and lists the first-party plugins where they are, idle without a parako.json', async () => {
    const result = await runParako(['hooks', '--dir', join(root, 'no-install-dir')], {env: storeEnv});
    expectExit(result, 0);
    for (const point of ['post-swap', 'health']) {
      expect(result.stdout).toMatch(new RegExp(`^${point}  \\(timeout \\d+ s[^)]*\\)\\n  \\(none\\)$`, 'm'));
    }
    expect(result.stdout).toMatch(/^restart {2}\(timeout 600 s[^)]*\)\n {2}- +@parako\/plugin-compose .*first-party +idle \(no parako\.json\)$/m);
    expect(result.stdout).toMatch(/^pre-swap {2}\(timeout 3600 s[^)]*\)\n {2}- +@parako\/plugin-backup-mongo .*first-party +idle \(no parako\.json\)$/m);
    expect(result.stdout).toMatch(/^pre-download {2}\(timeout 60 s[^)]*\)\n {2}- +@parako\/plugin-supervisord .*first-party +idle \(no parako\.json\)$/m);
    expect(result.stdout).toMatch(/^notify {2}\(timeout 30 s[^)]*\)\n {2}- +@parako\/plugin-notify-webhook .*first-party +idle \(no parako\.json\)$/m);
  });
});

describe('parako plugins install', () => {
  it('a plugin installed from an npm-packed tarball is listed as installed with its version, and uninstall removes it', async () => {
    const pluginRoot = await writeProbePlugin(join(root, 'src'), 'parako-plugin-probe', {version: '2.0.1', points: ['health', 'notify'], record: join(root, 'calls.jsonl')});
    const tarball = await npmPack(pluginRoot, join(root, 'dist'));

    const install = await runParako(['plugins', 'install', tarball], {env: storeEnv});
    expectExit(install, 0);
    expect(install.stderr).toContain('installed v2.0.1');
    const installedRoot = join(store, 'node_modules', 'parako-plugin-probe');
    expect(await exists(join(installedRoot, 'hooks', 'health.js'))).toBe(true);

    const listing = await listHooks(join(root, 'no-install-dir'));
    expect(listing.hooks.health).toEqual([{plugin: 'parako-plugin-probe', version: '2.0.1', origin: 'installed', root: installedRoot, acts: true}]);
    expect(listing.hooks.notify).toHaveLength(1);
    expect(listing.hooks['pre-swap']).toEqual([]);

    const uninstall = await runParako(['plugins', 'uninstall', 'parako-plugin-probe'], {env: storeEnv});
    expectExit(uninstall, 0);
    expect(await exists(installedRoot)).toBe(false);
    const after = await listHooks(join(root, 'no-install-dir'));
    expect(pluginsByPoint(after)).toEqual(Object.fromEntries(HOOK_POINTS.map((point) => [point, []])));
    expect((await runParako(['plugins'], {env: storeEnv})).stdout).toContain('No plugins installed.');
  });

  it('the hooks of an installed plugin that imports its SDK from parako fire during a real update', async () => {
    const record = join(root, 'calls.jsonl');
    const pluginRoot = await writeProbePlugin(join(root, 'src'), 'parako-plugin-probe', {record});
    expect(await exists(join(pluginRoot, 'node_modules'))).toBe(false); // no copy of parako of its own
    const tarball = await npmPack(pluginRoot, join(root, 'dist'));
    await installedWorld();
    expectExit(await runParako(['plugins', 'install', tarball], {env: storeEnv}), 0);
    expect(await exists(join(store, 'node_modules', 'parako'))).toBe(false);

    expectExit(await parako(world!, ['update'], {env: storeEnv}), 0);
    const calls = await readCalls(record);
    expect(calls.map((call) => call.point)).toEqual([...HOOK_POINTS]);
    for (const call of calls) {
      // The plugin got this installation's SDK, the module the CLI itself runs.
      expect(call).toEqual({plugin: 'parako-plugin-probe', point: call.point, operation: 'update', sdk: SDK_URL, hookPoints: HOOK_POINTS.length});
    }
  });
});

describe('run order', () => {
  it('parako hooks lists linked plugins by name, or as hooks.order says, and an update runs them in that order', async () => {
    const record = join(root, 'calls.jsonl');
    const points = ['pre-download', 'post-verify'];
    for (const name of ['parako-plugin-b', 'parako-plugin-a']) {
      const pluginRoot = await writeProbePlugin(join(root, 'src'), name, {points, record});
      expectExit(await runParako(['plugins', 'link', '--no-install', pluginRoot], {env: storeEnv}), 0);
    }

    // Without a parako.json: no hooks.order, default timeouts.
    const byName = await listHooks(join(root, 'no-install-dir'));
    expect(pluginsByPoint(byName)['pre-download']).toEqual(['parako-plugin-a', 'parako-plugin-b']);
    expect(byName).toMatchObject({order: null, config: null});
    expect(byName.timeoutSeconds).toEqual({'pre-download': 60, 'post-verify': 60, 'pre-swap': 3600, 'post-swap': 120, restart: 600, health: 300, notify: 30});

    world = await makeSignedWorld({sigstore});
    await world.writeConfig({hooks: {order: ['parako-plugin-b'], timeoutSeconds: {'pre-download': 5}}});
    await world.publish({version: '1.0.0'});
    const ordered = await listHooks(world.dir);
    expect(pluginsByPoint(ordered)).toMatchObject({'pre-download': ['parako-plugin-b', 'parako-plugin-a'], 'post-verify': ['parako-plugin-b', 'parako-plugin-a'], health: []});
    expect(ordered).toMatchObject({order: ['parako-plugin-b'], config: world.configFile});
    expect(ordered.timeoutSeconds).toMatchObject({'pre-download': 5, 'post-verify': 60});
    const human = await runParako(['hooks', '--dir', world.dir], {env: storeEnv});
    expect(human.stdout).toContain(`run order:    parako-plugin-b (hooks.order in ${world.configFile}), then first-party, then by name`);
    expect(human.stdout).toContain('pre-download  (timeout 5 s, fail-closed)');

    expectExit(await parako(world, ['update', '--dry-run'], {env: storeEnv}), 0);
    const calls = await readCalls(record);
    expect(calls.map((call) => `${call.point} ${call.plugin}`)).toEqual([
      'pre-download parako-plugin-b',
      'pre-download parako-plugin-a',
      'post-verify parako-plugin-b',
      'post-verify parako-plugin-a',
    ]);
    // Linked from a folder with no node_modules at all, the plugins still got the SDK.
    expect(new Set(calls.map((call) => call.sdk))).toEqual(new Set([SDK_URL]));
  });

  it('hooks.order naming a plugin that is not installed is pointed out', async () => {
    world = await makeSignedWorld({sigstore});
    await world.writeConfig({hooks: {order: ['parako-plugin-gone']}});
    const result = await runParako(['hooks', '--dir', world.dir], {env: storeEnv});
    expectExit(result, 0);
    expect(result.stdout).toContain('hooks.order names parako-plugin-gone, which no installed plugin is called');
  });
});

describe('a broken plugin', () => {
  it('a linked plugin whose folder is gone is listed as not loaded, and uninstall removes it', async () => {
    const plugin = await makeRecordingPlugin(root, 'parako-plugin-gone');
    expectExit(await runParako(['plugins', 'link', '--no-install', plugin.root], {env: storeEnv}), 0);
    await rm(plugin.root, {recursive: true});

    const listing = await listHooks(join(root, 'no-install-dir'));
    expect(listing).toMatchObject({notLoaded: [{plugin: 'parako-plugin-gone', type: 'link', root: plugin.root}]});
    expect(listing.hooks['pre-swap']).toEqual([]);
    const human = await runParako(['hooks', '--dir', join(root, 'no-install-dir')], {env: storeEnv});
    expectExit(human, 0);
    expect(human.stdout).toContain(`NOT LOADED:   parako-plugin-gone (linked from ${plugin.root}) could not be loaded, so its hooks do not run`);
    expect(human.stdout).toContain('parako plugins uninstall parako-plugin-gone');

    expectExit(await runParako(['plugins', 'uninstall', 'parako-plugin-gone'], {env: storeEnv}), 0);
    expect(await listHooks(join(root, 'no-install-dir'))).toMatchObject({notLoaded: []});
  });
});

describe('plugins bundled with parako', () => {
  it('every plugin in parako\'s own package.json is first-party, whatever its name, and runs before in-house plugins', async () => {
    const record = join(root, 'calls.jsonl');
    const points = ['pre-download'];
    const installation = await makeInstallation(join(root, 'parako'), [
      await writeProbePlugin(join(root, 'bundled'), '@parako/zz-probe', {version: '0.1.0', points, record}),
      await writeProbePlugin(join(root, 'bundled'), 'acme-bundled-probe', {version: '0.2.0', points, record}),
    ]);
    const inHouse = await writeProbePlugin(join(root, 'src'), 'aaa-in-house', {version: '1.0.0', points, record});
    expectExit(await installation.run(['plugins', 'link', '--no-install', inHouse]), 0);

    const result = await installation.run(['hooks', '--json', '--dir', join(root, 'no-install-dir')]);
    expectExit(result, 0);
    const listing = jsonOf(result) as unknown as HooksListing;
    expect(listing.hooks['pre-download']!.filter((hook) => hook.acts).map(({plugin, version, origin}) => ({plugin, version, origin}))).toEqual([
      {plugin: '@parako/zz-probe', version: '0.1.0', origin: 'first-party'},
      {plugin: 'acme-bundled-probe', version: '0.2.0', origin: 'first-party'},
      {plugin: 'aaa-in-house', version: '1.0.0', origin: 'linked'},
    ]);

    world = await makeSignedWorld({sigstore});
    await world.writeConfig();
    await world.publish({version: '1.0.0'});
    expectExit(await installation.run(['update', '--dry-run', '--dir', world.dir]), 0);
    const calls = await readCalls(record);
    expect(calls.map((call) => call.plugin)).toEqual(['@parako/zz-probe', 'acme-bundled-probe', 'aaa-in-house']);
    // The SDK is the installation's own dist/index.js (a symlink to this repo's).
    expect(new Set(calls.map((call) => call.sdk))).toEqual(new Set([SDK_URL]));
  });
});

describe('the plugin store', () => {
  it('is /var/lib/parako for every user unless PARAKO_DATA_DIR says otherwise', async () => {
    // An empty PARAKO_DATA_DIR is unset for bin/run.js (cleanEnv points tests elsewhere by default).
    const listing = await listHooks(join(root, 'no-install-dir'), {PARAKO_DATA_DIR: ''});
    expect(listing.dataDir).toBe('/var/lib/parako');
  });

  it('a store that does not exist does not stop status, hooks or --help', async () => {
    const env = {PARAKO_DATA_DIR: join(root, 'missing')};
    expectExit(await runParako(['status', '--dir', join(root, 'no-install-dir')], {env}), 0);
    expectExit(await runParako(['hooks', '--dir', join(root, 'no-install-dir')], {env}), 0);
    const help = await runParako(['--help'], {env});
    expectExit(help, 0);
    expect(help.stdout).toContain('hooks');
    expect(help.stdout).toContain('plugins');
    expect(await exists(join(root, 'missing'))).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)('a user who cannot read the store still runs status, hooks and --help, and is told why install fails', async () => {
    // The store is root's (mode 0700 here); `nobody` runs parako from this checkout.
    await mkdir(store, {mode: 0o700});
    await writeFile(join(store, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins: []}}));
    const asNobody = (args: string[]): Promise<CliResult> =>
      runCommand('runuser', ['-u', 'nobody', '--', process.execPath, join(repoRoot, 'bin', 'run.js'), ...args], {PARAKO_DATA_DIR: store});
    expectExit(await asNobody(['status', '--dir', '/nonexistent/parako-install']), 0);
    expectExit(await asNobody(['hooks', '--dir', '/nonexistent/parako-install']), 0);
    expectExit(await asNobody(['--help']), 0);
    const install = await asNobody(['plugins', 'install', '/nonexistent/plugin-1.0.0.tgz']);
    expect(install.code, explain(install)).not.toBe(0);
    expect(install.stderr).toMatch(/EACCES|permission/i);
  });
});

/** Runs a program to completion with the CLI's clean environment (plus `env`). */
function runCommand(command: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {cwd: tmpdir(), env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const result: CliResult = {code: code ?? 128, signal, timedOut: false, stdout, stderr};
      if (args.includes('--json')) {
        try {
          result.json = JSON.parse(stdout);
        } catch {
          // Not JSON: left undefined, so jsonOf() fails showing stdout.
        }
      }
      resolve(result);
    });
  });
}

/**
 * A copy of this parako installation whose package.json bundles more oclif plugins, the way a
 * release of parako ships its first-party plugins (`oclif.plugins` + node_modules). bin/ is
 * copied (oclif finds the installation from bin/run.js's real path); dist/, the manifest and
 * every dependency are symlinks to this checkout's.
 */
async function makeInstallation(dir: string, bundled: string[]): Promise<{run(args: string[]): Promise<CliResult>}> {
  await mkdir(join(dir, 'bin'), {recursive: true});
  for (const file of ['run.js', 'resolve-parako.js']) await copyFile(join(repoRoot, 'bin', file), join(dir, 'bin', file));
  await symlink(join(repoRoot, 'dist'), join(dir, 'dist'));
  await symlink(join(repoRoot, 'oclif.manifest.json'), join(dir, 'oclif.manifest.json'));
  const pjson = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {dependencies: Record<string, string>; oclif: {plugins: string[]}};
  const names: string[] = [];
  for (const pluginRoot of bundled) {
    const plugin = JSON.parse(await readFile(join(pluginRoot, 'package.json'), 'utf8')) as {name: string; version: string};
    names.push(plugin.name);
    pjson.dependencies[plugin.name] = plugin.version; // oclif loads a core plugin only if it is a dependency too
  }
  pjson.oclif.plugins = [...pjson.oclif.plugins, ...names];
  await writeFile(join(dir, 'package.json'), JSON.stringify(pjson, null, 2));

  // node_modules: this checkout's dependencies, plus the bundled plugins (scopes made real dirs).
  const modules = join(dir, 'node_modules');
  const repoModules = join(repoRoot, 'node_modules');
  const scopes = new Set(names.filter((name) => name.startsWith('@')).map((name) => name.split('/')[0]!));
  await mkdir(modules);
  for (const entry of await readdir(repoModules)) {
    if (scopes.has(entry)) continue;
    await symlink(join(repoModules, entry), join(modules, entry));
  }
  for (const scope of scopes) {
    await mkdir(join(modules, scope));
    for (const entry of await readdir(join(repoModules, scope)).catch(() => [])) await symlink(join(repoModules, scope, entry), join(modules, scope, entry));
  }
  for (const [i, pluginRoot] of bundled.entries()) await symlink(pluginRoot, join(modules, names[i]!));

  return {run: (args) => runCommand(process.execPath, [join(dir, 'bin', 'run.js'), ...args], storeEnv)};
}
