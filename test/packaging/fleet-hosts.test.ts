/**
 * The Ansible role and playbooks of templates/ansible/ (docs/fleet.md) on a fleet of real
 * hosts: three Docker containers with systemd as PID 1 (test/fixtures/fleet-hosts.ts), reached by
 * ansible-playbook over SSH, with parako installed onto them from the .deb that
 * `npm run package` writes, by the role itself (`parako_install`), and an app under systemd with
 * a health endpoint on each. A good release reaches every host one batch after the other; a
 * release unhealthy on the second host is rolled back there, stops the rollout, and leaves the
 * third host on the old release; a bad signature stops everything at the preflight.
 */
import {spawnSync} from 'node:child_process';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {repoRoot} from '../fixtures/cli.js';
import {ansiblePlaybookMissing, type PlaybookResult, summaryLines, updateOrder} from '../fixtures/fleet.js';
import {
  deployApp, ensureSshImage, type FleetApp, fleetAppRelease, type FleetHosts, hostHistory, hostState, hostTree, sshClientMissing, startFleetHosts,
} from '../fixtures/fleet-hosts.js';
import {createTestTrustRoot, generateTestKeyPair, type TestSigstore} from '../fixtures/sigstore.js';
import {run, systemdTestsMissing} from '../fixtures/systemd.js';

const pjson = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {version: string};
const VERSION = pjson.version;
const {NODE_RUNTIME} = (await import(join(repoRoot, 'scripts', 'node-runtime.mjs'))) as {NODE_RUNTIME: {version: string}};

const missing =
  systemdTestsMissing() ||
  (await ansiblePlaybookMissing()) ||
  (await sshClientMissing()) ||
  (spawnSync('dpkg-deb', ['--version']).status === 0 ? false : 'no dpkg-deb to build the .deb (apt-get install dpkg)');
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide what the fleet test on real hosts needs: ${missing}`);
}

const HOSTS = ['web1', 'web2', 'web3'];
const UPDATE_PLAY = 'PLAY [Update (parako update, batch by batch)]';
const INSTALL_TASK = 'Install the .deb (apt also pulls its dependencies)';

function explain(result: PlaybookResult): string {
  return `ansible-playbook exited ${result.code}\n${result.output}`;
}

/** The hosts a task reported on, each with its status (`changed: [web1]` → `web1 changed`), sorted. */
function taskResults(output: string, task: string): string[] {
  const block = output.split(`TASK [parako : ${task}]`)[1]?.split('\n\n')[0] ?? '';
  return [...block.matchAll(/^(ok|changed|skipping|fatal): \[([\w-]+)\]/gm)].map((m) => `${m[2]} ${m[1]}`).sort();
}

describe.skipIf(missing !== false)(`rolling-update.yml over SSH on three systemd hosts${missing ? ` (skipped: ${missing})` : ''}`, {timeout: 300_000}, () => {
  let sigstore: TestSigstore;
  let scratch: string;
  let deb: string;
  let fleet: FleetHosts;
  const apps: FleetApp[] = [];

  beforeAll(async () => {
    sigstore = await createTestTrustRoot();
    scratch = await mkdtemp(join(tmpdir(), 'parako-fleet-package-'));
    deb = join(scratch, 'artifacts', `parako_${VERSION}_amd64.deb`);
    // The package (mostly CPU) and the hosts (mostly Docker's disk and apt) at the same time.
    const [packed, hosts] = await Promise.allSettled([
      run(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--out', join(scratch, 'artifacts')], {cwd: repoRoot, timeoutMs: 600_000}),
      ensureSshImage().then(() => startFleetHosts(HOSTS)),
    ]);
    if (hosts.status === 'fulfilled') fleet = hosts.value;
    if (packed.status === 'rejected') throw new Error(`scripts/package.mjs failed: ${String(packed.reason)}`);
    if (hosts.status === 'rejected') throw hosts.reason;
  }, 900_000);

  afterAll(async () => {
    // Not after each test: the apps of the tests that run at once are still in use then.
    for (const app of apps.splice(0)) await app.remove();
    await fleet?.remove();
    await sigstore?.close();
    if (scratch !== undefined) await rm(scratch, {recursive: true, force: true});
  }, 120_000);

  /**
   * `name` deployed on every host, and its v1.0.0 installed on all of them at once by the role,
   * which installs parako first where it is missing, and changes nothing where it is there.
   */
  async function deploy(name: string, opts: {unhealthy?: Record<string, string[]>} = {}): Promise<{app: FleetApp; install: PlaybookResult}> {
    const app = await deployApp(fleet, {name, sigstore, ...opts});
    apps.push(app);
    await app.world.publish(fleetAppRelease('1.0.0'));
    const hadParako = await Promise.all(fleet.hosts.map(async (host) => (await host.container.exec(['dpkg-query', '-W', 'parako'])).code === 0));
    const install = await fleet.playbook('rolling-update.yml', [
      ...app.vars,
      '-e', JSON.stringify({parako_install: true, parako_install_deb: deb}),
      '-e', 'parako_version=1.0.0',
      '-e', `parako_serial=${HOSTS.length}`,
    ]);
    expect(install.code, explain(install)).toBe(0);
    const installed = taskResults(install.output, INSTALL_TASK);
    for (const [index, host] of HOSTS.entries()) {
      if (hadParako[index]) expect(installed, `the role installed parako again on ${host}\n${install.output}`).toContain(`${host} ok`);
    }
    expect(summaryLines(install)).toEqual(HOSTS.map((host) => `${host}: none -> 1.0.0: installed`));
    return {app, install};
  }

  it('parako_install puts the .deb on hosts without parako (or Node.js) over SSH, before parako first runs there', async () => {
    for (const host of fleet.hosts) expect(host.hadParako, `${host.name} had parako before the role ran`).toBe(false);
    // Whatever an earlier test installed: these hosts start without parako, and without the copied .deb.
    await Promise.all(fleet.hosts.map((host) => host.container.sh('dpkg --purge parako >/dev/null 2>&1 || true; rm -f /var/cache/parako_*.deb; ! command -v parako')));

    const {app, install} = await deploy('fleet-install');
    expect(taskResults(install.output, 'Copy the .deb to the host')).toEqual(HOSTS.map((host) => `${host} changed`));
    expect(taskResults(install.output, INSTALL_TASK)).toEqual(HOSTS.map((host) => `${host} changed`));
    // Installed before the preflight's dry run, which then ran on every host.
    expect(install.output.indexOf('TASK [parako : Install the .deb')).toBeLessThan(install.output.indexOf('TASK [parako : Run parako update]'));
    for (const host of fleet.hosts) {
      expect(await host.container.sh(`dpkg-query -W -f '\${Status} \${Version}\\n' parako; readlink -f /usr/bin/parako; parako --version; command -v node nodejs || echo 'no node'`), host.name).toBe(
        `install ok installed ${VERSION}\n/usr/lib/parako/bin/parako\nparako/${VERSION} linux-x64 node-v${NODE_RUNTIME.version}\nno node\n`,
      );
      expect(await hostState(fleet, app, host.name), host.name).toEqual({current: 'releases/v1.0.0', answers: `${host.name} 1.0.0 (HTTP 200)`});
    }
  });

  // The hosts are shared, each test with its own app on them (its own install dir, unit, port
  // and feed): the three cases run at once.
  it.concurrent('a good release reaches every host, one batch after the other, after a preflight on all of them', async ({expect}) => {
    const {app} = await deploy('fleet-good');
    await app.world.publish(fleetAppRelease('1.1.0'));

    const result = await fleet.playbook('rolling-update.yml', [...app.vars, '-e', 'parako_version=1.1.0']);
    expect(result.code, explain(result)).toBe(0);
    for (const host of HOSTS) {
      expect(await hostState(fleet, app, host), host).toEqual({current: 'releases/v1.1.0', answers: `${host} 1.1.0 (HTTP 200)`});
    }

    // The preflight ran parako on every host (ok: a dry run changes nothing) before the first update.
    const preflight = result.output.slice(0, result.output.indexOf(UPDATE_PLAY));
    expect(taskResults(preflight, 'Run parako update'), result.output).toEqual(HOSTS.map((host) => `${host} ok`));
    // serial 1: one host per batch, in inventory order, each started after the one before ended.
    expect(updateOrder(result)).toEqual(HOSTS);
    expect(result.output.split(UPDATE_PLAY).length - 1, 'one batch per host').toBe(3);
    const updates = await Promise.all(HOSTS.map(async (host) => (await hostHistory(fleet, app, host)).at(-1)!));
    for (const line of updates) expect(line).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'updated', code: 0});
    const spans = updates.map((line) => ({end: Date.parse(String(line.at)), start: Date.parse(String(line.at)) - Number(line.durationMs)}));
    expect(spans[1]!.start, 'web2 started after web1 ended').toBeGreaterThanOrEqual(spans[0]!.end);
    expect(spans[2]!.start, 'web3 started after web2 ended').toBeGreaterThanOrEqual(spans[1]!.end);

    expect(summaryLines(result)).toEqual(HOSTS.map((host) => `${host}: 1.0.0 -> 1.1.0: updated`));
    for (const host of HOSTS) expect(result.output).toMatch(new RegExp(`${host}\\s+: ok=\\d+\\s+changed=1\\s+unreachable=0\\s+failed=0`));
  });

  it.concurrent('a release unhealthy on the second host is rolled back there (exit 7), the rollout stops, and the third host stays on the old release', async ({expect}) => {
    const {app} = await deploy('fleet-unhealthy', {unhealthy: {web2: ['1.1.0']}});
    await app.world.publish(fleetAppRelease('1.1.0'));
    const web3Before = await hostTree(fleet, app, 'web3');

    const result = await fleet.playbook('rolling-update.yml', [...app.vars, '-e', 'parako_version=1.1.0']);
    expect(result.code, explain(result)).toBe(2); // ansible-playbook: a host failed
    expect(await hostState(fleet, app, 'web1')).toEqual({current: 'releases/v1.1.0', answers: 'web1 1.1.0 (HTTP 200)'});
    // web2 ran v1.1.0, which answered 503 there; parako put v1.0.0 back and restarted it.
    expect(await hostState(fleet, app, 'web2')).toEqual({current: 'releases/v1.0.0', answers: 'web2 1.0.0 (HTTP 200)'});
    expect((await hostHistory(fleet, app, 'web2')).at(-1)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'auto-rolled-back', code: 7});
    // web3 was never run: its install dir is as it was, history included, and it still serves v1.0.0.
    expect(await hostTree(fleet, app, 'web3'), 'web3 changed').toEqual(web3Before);
    expect(await hostHistory(fleet, app, 'web3')).toHaveLength(1);
    expect(await hostState(fleet, app, 'web3')).toEqual({current: 'releases/v1.0.0', answers: 'web3 1.0.0 (HTTP 200)'});
    expect(updateOrder(result)).toEqual(['web1', 'web2']);

    // The failure in parako's words, and the summary saying where the rollout stopped.
    expect(result.output).toMatch(/fatal: \[web2\]: FAILED! => \{[^\n]*parako update exited 7 \(auto-rolled-back\): v1\.1\.0 was unhealthy[^\n]*HTTP 503[^\n]*next: /);
    const lines = summaryLines(result);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('web1: 1.0.0 -> 1.1.0: updated');
    expect(lines[1]).toMatch(/^web2: 1\.0\.0 -> 1\.1\.0: auto-rolled-back \(exit 7\): v1\.1\.0 was unhealthy .*rolled back automatically, v1\.0\.0 is running again/);
    expect(lines[2]).toBe('web3: not reached: still on 1.0.0 (would go to 1.1.0)');
    expect(result.output).toMatch(/web2\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1/);
    expect(result.output).toMatch(/web3\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0/);
  });

  it.concurrent('a release with a bad signature fails the preflight on every host, and no host changes', async ({expect}) => {
    const {app} = await deploy('fleet-badsig');
    const release = await app.world.publish(fleetAppRelease('1.1.0'));
    // The feed now serves a bundle made with a key the hosts do not trust.
    await writeFile(release.bundleFile!, `${JSON.stringify(await sigstore.signWithKey(release.file, {key: generateTestKeyPair()}))}\n`);
    const before = await Promise.all(HOSTS.map((host) => hostTree(fleet, app, host)));

    const result = await fleet.playbook('rolling-update.yml', [...app.vars, '-e', 'parako_version=1.1.0']);
    expect(result.code, explain(result)).toBe(2);
    for (const [index, host] of HOSTS.entries()) {
      expect(await hostTree(fleet, app, host), `${host} changed`).toEqual(before[index]);
      expect(await hostHistory(fleet, app, host), host).toHaveLength(1);
      expect(await hostState(fleet, app, host), host).toEqual({current: 'releases/v1.0.0', answers: `${host} 1.0.0 (HTTP 200)`});
    }
    expect(result.output).not.toContain(UPDATE_PLAY);
    expect(result.output).toMatch(/parako update exited 3 \(failed\): [^\n]*signature[^\n]*does not verify with the configured key/);
    const lines = summaryLines(result);
    expect(lines).toHaveLength(3);
    for (const [index, host] of HOSTS.entries()) {
      expect(lines[index]).toMatch(new RegExp(`^${host}: not updated: preflight failed \\(exit 3\\): .*does not verify with the configured key`));
    }
  });
});
