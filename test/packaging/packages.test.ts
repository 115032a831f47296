/**
 * parako as it reaches a host: `npm run package` (scripts/package.mjs) into a temp dir, then each
 * artifact installed the way docs/installation.md says, away from this checkout, and used for a
 * real update. The npm tarball is installed with the registry pointed at a server that fails
 * the test on any request; the .deb is installed in a Debian container with systemd and no
 * Node.js, where it updates, reports on and rolls back a systemd service.
 */
import {spawnSync} from 'node:child_process';
import {mkdir, mkdtemp, readFile, readlink, rm, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {type CliResult, cleanEnv, repoRoot, runParako} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {appRelease, freePort, startSystemdContainer, systemdTestsMissing, useSystemdContainers} from '../fixtures/systemd.js';
import {waitForVersion} from '../fixtures/answers.js';
import {currentTarget, expectExit, FAST_ENV, useSignedWorlds} from '../integration/helpers.js';

const pjson = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {version: string; dependencies: Record<string, string>};
const VERSION = pjson.version;
const {NODE_RUNTIME} = (await import(join(repoRoot, 'scripts', 'node-runtime.mjs'))) as {NODE_RUNTIME: {version: string}};
const FIRST_PARTY = Object.keys(pjson.dependencies).filter((name) => name.startsWith('@parako/')).sort();

function toolMissing(): string | false {
  for (const [tool, args] of [['dpkg-deb', ['--version']], ['tar', ['--version']], ['sha256sum', ['--version']]] as const) {
    if (spawnSync(tool, args).status !== 0) return `no ${tool} (apt-get install dpkg tar coreutils)`;
  }
  return false;
}
const missing = toolMissing();
const containerMissing = systemdTestsMissing();
if (process.env.CI === 'true' && (missing !== false || containerMissing !== false)) {
  throw new Error(`CI must provide what the packaging tests need: ${missing || containerMissing}`);
}

describe.skipIf(missing !== false)(`parako as shipped${missing === false ? '' : ` (skipped: ${missing})`}`, {timeout: 300_000}, () => {
  const worlds = useSignedWorlds();
  let scratch: string;
  let artifacts: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'parako-packaging-'));
    artifacts = join(scratch, 'artifacts');
    const packed = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--out', artifacts], {cwd: repoRoot, encoding: 'utf8'});
    if (packed.status !== 0) throw new Error(`scripts/package.mjs failed (exit ${packed.status}):\n${packed.stdout}${packed.stderr}`);
  }, 900_000);

  afterAll(async () => {
    if (scratch !== undefined) await rm(scratch, {recursive: true, force: true});
  });

  it('npm run package writes the npm tarball, every first-party plugin, the standalone tarball and the .deb, each in SHA256SUMS', async () => {
    const sums = await readFile(join(artifacts, 'SHA256SUMS'), 'utf8');
    const listed = sums.trim().split('\n').map((line) => line.split(/\s+/)[1]).sort();
    const plugins = FIRST_PARTY.map((name) => `plugins/${name.slice(1).replace('/', '-')}-${VERSION}.tgz`);
    expect(listed).toEqual([`parako-${VERSION}.tgz`, `parako-v${VERSION}-linux-x64.tar.gz`, `parako_${VERSION}_amd64.deb`, ...plugins].sort());
    const check = spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], {cwd: artifacts, encoding: 'utf8'});
    expect(check.stdout.trim().split('\n')).toEqual(listed.map((file) => `${file}: OK`));
    expect(check.status).toBe(0);
  });

  describe('the npm tarball', () => {
    let prefix: string;
    let installed: string;
    let registryRequests: string[];
    let installOutput: string;

    beforeAll(async () => {
      prefix = join(scratch, 'npm-prefix');
      installed = join(prefix, 'bin', 'parako');
      const registry = await recordingRegistry();
      registryRequests = registry.requests;
      try {
        const install = await npm(['install', '--global', '--prefix', prefix, join(artifacts, `parako-${VERSION}.tgz`)], {
          npm_config_registry: registry.url,
          // An empty cache and no user config: nothing may come from this machine's earlier installs.
          npm_config_cache: join(scratch, 'npm-cache'),
          npm_config_userconfig: join(scratch, 'no-npmrc'),
          npm_config_fetch_retries: '0',
          npm_config_loglevel: 'http',
        });
        installOutput = `${install.stdout}${install.stderr}`;
        expect(install.status, `${install.stdout}${install.stderr}`).toBe(0);
        expect(installOutput).not.toMatch(/npm (warn|WARN|error|ERR)/);
      } finally {
        await registry.close();
      }
    }, 300_000);

    it('installs with npm install -g and asks the registry for nothing', () => {
      expect(registryRequests, installOutput).toEqual([]);
    });

    it('carries no install script: nothing runs as root while it installs', async () => {
      const {readdir} = await import('node:fs/promises');
      const withScripts: string[] = [];
      const root = join(prefix, 'lib', 'node_modules', 'parako');
      for (const entry of await readdir(root, {recursive: true, withFileTypes: true})) {
        if (entry.name !== 'package.json' || !entry.isFile()) continue;
        const file = join(entry.parentPath, entry.name);
        const manifest = JSON.parse(await readFile(file, 'utf8')) as {scripts?: Record<string, string>};
        const scripts = Object.keys(manifest.scripts ?? {}).filter((name) => ['preinstall', 'install', 'postinstall'].includes(name));
        if (scripts.length > 0) withScripts.push(`${file.slice(root.length + 1)}: ${scripts.join(', ')}`);
      }
      expect(withScripts).toEqual([]);
    });

    it('parako --version and parako hooks print exactly what the checkout prints', async () => {
      const world = await worlds.make();
      await world.writeConfig({supervisor: {type: 'pm2', apps: ['demo-app']}});
      for (const args of [['--version'], ['hooks', '--dir', world.dir]]) {
        const fromInstall = await runParako(args, {program: installed});
        const fromCheckout = await runParako(args);
        expectExit(fromInstall, 0);
        expect(fromInstall.stdout).toBe(fromCheckout.stdout);
      }
      const hooks = await runParako(['hooks', '--dir', world.dir, '--json'], {program: installed});
      const listed = (hooks.json as {hooks: Record<string, Array<{plugin: string; origin: string; root: string}>>}).hooks;
      const plugins = [...new Set(Object.values(listed).flat().map((hook) => hook.plugin))].sort();
      expect(plugins).toEqual(FIRST_PARTY);
      // They are the installed copy's own plugins, not this checkout's workspaces.
      for (const hook of Object.values(listed).flat()) {
        expect(hook.origin).toBe('first-party');
        expect(hook.root.startsWith(join(prefix, 'lib', 'node_modules', 'parako', 'node_modules', '@parako'))).toBe(true);
      }
    });

    it('updates, reports and rolls back a real install', async () => {
      await updateStatusRollback(await worlds.make(), installed);
    });

    it('a newer first-party plugin installed from its own tarball replaces the bundled one, without npm warnings', async () => {
      const newer = await repackWithVersion(join(artifacts, 'plugins', `parako-plugin-pm2-${VERSION}.tgz`), '99.0.0');
      const store = join(scratch, 'plugin-store');
      // An operator's ~/.npmrc with settings for other tools: npm warns about them unless parako keeps it out.
      const home = join(scratch, 'home');
      await mkdir(home, {recursive: true});
      await writeFile(join(home, '.npmrc'), 'nodedir=/usr\n');
      const env = {PARAKO_DATA_DIR: store, HOME: home};
      const install = await runParako(['plugins', 'install', newer], {program: installed, env, timeoutMs: 120_000});
      expectExit(install, 0);
      expect(`${install.stdout}${install.stderr}`).not.toMatch(/npm (warn|WARN)|Unknown user config/);
      const world = await worlds.make();
      await world.writeConfig({supervisor: {type: 'pm2', apps: ['demo-app']}});
      const hooks = await runParako(['hooks', '--dir', world.dir, '--json'], {program: installed, env});
      const restart = (hooks.json as {hooks: Record<string, Array<{plugin: string; version: string; origin: string}>>}).hooks.restart;
      expect(restart?.filter((hook) => hook.plugin === '@parako/plugin-pm2')).toEqual([
        expect.objectContaining({plugin: '@parako/plugin-pm2', version: '99.0.0', origin: 'installed'}),
      ]);
      // Installed the documented way, it passes the plugin file check (docs/plugins/managing.md).
      expect(hooks.stderr).toBe('');
      expect((hooks.json as {plugins: Array<{plugin: string; files: string}>}).plugins.find((plugin) => plugin.plugin === '@parako/plugin-pm2')?.files).toBe('root-only');
    });
  });

  describe('the standalone tarball', () => {
    let tree: string;

    beforeAll(async () => {
      const into = join(scratch, 'standalone');
      await mkdir(into);
      const untar = spawnSync('tar', ['-xzf', join(artifacts, `parako-v${VERSION}-linux-x64.tar.gz`), '-C', into], {encoding: 'utf8'});
      expect(untar.status, untar.stderr).toBe(0);
      tree = join(into, 'parako');
    }, 120_000);

    it(`runs on its own Node.js ${NODE_RUNTIME.version}, also through a link on PATH`, async () => {
      const link = join(scratch, 'usr-bin-parako');
      spawnSync('ln', ['-s', join(tree, 'bin', 'parako'), link]);
      for (const program of [join(tree, 'bin', 'parako'), link]) {
        // The host's node is v20: the version line shows which one ran.
        const version = await runParako(['--version'], {program});
        expectExit(version, 0);
        expect(version.stdout.trim()).toBe(`parako/${VERSION} linux-x64 node-v${NODE_RUNTIME.version}`);
      }
    });

    it('updates, reports and rolls back a real install', async () => {
      await updateStatusRollback(await worlds.make(), join(tree, 'bin', 'parako'));
    });
  });

  describe.skipIf(containerMissing !== false)(`the .deb${containerMissing === false ? '' : ` (skipped: ${containerMissing})`}`, () => {
    const containers = useSystemdContainers();

    it('installs on a Debian host without Node.js, then updates, reports on and rolls back a systemd service', async () => {
      const world = await worlds.make({app: 'parako-id'});
      const port = await freePort();
      const healthUrl = `http://127.0.0.1:${port}/health`;
      await world.writeConfig({
        supervisor: {type: 'systemd', units: ['parako-id'], settleSeconds: 2},
        health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true},
      });
      await mkdir(join(world.dir, 'runtime'));
      await writeFile(join(world.dir, 'runtime', '.env'), `PORT=${port}\n`);
      // The app (not parako) needs a JavaScript runtime; it gets one at a path nothing else looks at.
      const appNode = '/opt/test-app-runtime/node';
      const container = await startSystemdContainer(
        [
          {host: artifacts, container: '/artifacts', readOnly: true},
          {host: world.dir, container: '/opt/parako-id'},
          {host: dirname(world.keyFile), container: dirname(world.keyFile), readOnly: true},
          {host: process.execPath, container: appNode, readOnly: true},
        ],
        {withNode: false},
      );
      containers.push(container);
      expect((await container.exec(['sh', '-c', 'command -v node nodejs'])).code).not.toBe(0);

      await container.sh(`dpkg -i /artifacts/parako_${VERSION}_amd64.deb`);
      expect(await container.sh('readlink -f /usr/bin/parako; stat -c "%a %U:%G" /var/lib/parako; LC_ALL=C ls /usr/share/parako/systemd')).toBe(
        // The app's unit template, its socket-activated variant with the socket and the example
        // app that takes it (docs/supervisors/systemd.md), and the pair parako schedule installs.
        '/usr/lib/parako/bin/parako\n700 root:root\nparako-id-socket-activated.service\nparako-id.service\nparako-id.socket\nparako-update.service\nparako-update.timer\nserver.js\n',
      );
      const parako = async (args: string[]): Promise<CliResult> => {
        const result = await container.exec(['parako', ...args, '--dir', '/opt/parako-id'], {env: {...FAST_ENV, NO_COLOR: '1'}, timeoutMs: 120_000});
        return {...result, signal: null, timedOut: false};
      };
      const version = await container.exec(['parako', '--version']);
      expect(version.stdout.trim()).toBe(`parako/${VERSION} linux-x64 node-v${NODE_RUNTIME.version}`);
      const hooks = await parako(['hooks']);
      expectExit(hooks, 0);
      expect(hooks.stdout).toContain('plugin store: /var/lib/parako');
      // The bundled npm installs a plugin from its own tarball into the root-only store.
      const plugin = await container.exec(['parako', 'plugins', 'install', `/artifacts/plugins/parako-plugin-pm2-${VERSION}.tgz`], {timeoutMs: 120_000});
      expect(plugin.code, `${plugin.stdout}${plugin.stderr}`).toBe(0);
      expect(await container.sh('stat -c "%a %U" /var/lib/parako /var/lib/parako/package.json')).toBe('700 root\n644 root\n');
      // Installed as documented, the plugin passes the file check: loaded, and listed as root-only.
      const checked = await parako(['hooks']);
      expect(checked.stdout).not.toContain('REFUSED');
      expect(checked.stdout).toMatch(/@parako\/plugin-pm2 +0\.1\.0 +installed .* · files root-only/);

      // The operator's part: the unit from the shipped template, the app user; then a first install starts it.
      await container.sh(`useradd --system --no-create-home --shell /usr/sbin/nologin parako
        sed 's#/usr/bin/node #${appNode} #' /usr/share/parako/systemd/parako-id.service > /etc/systemd/system/parako-id.service
        systemctl daemon-reload && systemctl enable parako-id`);
      // Another user cannot read the store: parako still answers, without a raw EACCES warning.
      const asApp = await container.exec(['runuser', '-u', 'parako', '--', 'parako', '--version']);
      expect({code: asApp.code, stderr: asApp.stderr}).toEqual({code: 0, stderr: ''});

      await world.publish(appRelease('1.0.0'));
      const install = await parako(['update']);
      expectExit(install, 0);
      expect(install.stdout).toContain('installed v1.0.0');
      await waitForVersion(healthUrl, '1.0.0');

      await world.publish(appRelease('1.1.0'));
      const update = await parako(['update']);
      expectExit(update, 0);
      expect(update.stdout).toContain('systemctl restart parako-id');
      expect(update.stdout).toContain('updated v1.0.0 -> v1.1.0');
      await waitForVersion(healthUrl, '1.1.0');

      const status = await parako(['status', '--json']);
      expectExit(status, 0);
      expect(JSON.parse(status.stdout)).toMatchObject({status: {current: '1.1.0'}});

      expectExit(await parako(['rollback']), 0);
      await waitForVersion(healthUrl, '1.0.0');
      expect(await currentTarget(world)).toBe('releases/v1.0.0');
    });
  });
});

/** v1.0.0 installed, v1.1.0 updated to, `status`, then `rollback`: with `program` in place of the checkout. */
async function updateStatusRollback(world: SignedWorld, program: string): Promise<void> {
  await world.writeConfig();
  const run = (args: string[]): Promise<CliResult> => runParako([...args, '--dir', world.dir], {program, env: FAST_ENV});
  await world.publish({version: '1.0.0'});
  const install = await run(['update']);
  expectExit(install, 0);
  expect(install.stdout).toContain('installed v1.0.0');
  await world.publish({version: '1.1.0'});
  const update = await run(['update']);
  expectExit(update, 0);
  expect(update.stdout).toContain('updated v1.0.0 -> v1.1.0');
  const status = await run(['status', '--json']);
  expectExit(status, 0);
  expect(JSON.parse(status.stdout)).toMatchObject({status: {current: '1.1.0'}});
  expectExit(await run(['rollback']), 0);
  expect(await readlink(join(world.dir, 'current'))).toBe('releases/v1.0.0');
}

/** A registry that answers 503 to everything and remembers what was asked. */
async function recordingRegistry(): Promise<{url: string; requests: string[]; close(): Promise<void>}> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    response.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The same plugin tarball with another version in its package.json, as a newer release would be. */
async function repackWithVersion(tarball: string, version: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parako-repack-'));
  spawnSync('tar', ['-xzf', tarball, '-C', dir]);
  const file = join(dir, 'package', 'package.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as {version: string};
  await writeFile(file, JSON.stringify({...manifest, version}, null, 2));
  const packed = await npm(['pack', '--pack-destination', dir], {}, join(dir, 'package'));
  expect(packed.status, packed.stderr).toBe(0);
  return join(dir, packed.stdout.trim().split('\n').at(-1)!);
}

async function npm(args: string[], env: Record<string, string>, cwd = repoRoot): Promise<{status: number | null; stdout: string; stderr: string}> {
  const {spawn} = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], {cwd, env: cleanEnv(env)});
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({status, stdout, stderr}));
  });
}
