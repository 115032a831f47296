/**
 * Downtime of `parako update` + `parako rollback` under systemd (issue 17): requests that fail
 * while parako swaps and restarts, for the plain unit (the app binds its port itself; each
 * restart closes it for a moment) and for socket activation (systemd holds the listening socket;
 * connections wait in the kernel's backlog while the service restarts).
 *
 * systemd runs as PID 1 in a container with the host's network (test/fixtures/systemd.ts), so
 * the load runs on this host against 127.0.0.1. The units and the app are the shipped templates
 * (templates/systemd/), changed only in the port. installedHost() is also what
 * test/integration/supervisor-systemd-socket.test.ts sets its hosts up with.
 */
import {readFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';

import {waitForVersion} from '../../test/fixtures/answers.js';
import type {CliResult} from '../../test/fixtures/cli.js';
import {repoRoot} from '../../test/fixtures/cli.js';
import type {ReleaseSpec} from '../../test/fixtures/release.js';
import {makeSignedWorld, type SignedWorld} from '../../test/fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../../test/fixtures/sigstore.js';
import {ensureSystemdImage, freePort, startSystemdContainer, type SystemdContainer} from '../../test/fixtures/systemd.js';
import type {DowntimeRow, measure} from './measure.js';

/** What the harness hands in to measure each mode (bench/downtime/measure.ts). */
export type Measure = typeof measure;
export type {DowntimeRow};

/** `restart`: templates/systemd/parako-id.service alone. `socket activation`: the parako-id.socket pair. */
export type SystemdMode = 'restart' | 'socket activation';
export const MODES: SystemdMode[] = ['restart', 'socket activation'];

export const TEMPLATES = join(repoRoot, 'templates', 'systemd');
export const INSTALL_DIR = '/opt/parako-id';
export const UNIT = 'parako-id';
/** The address the socket template listens on; each host gets a free port instead. */
const TEMPLATE_LISTEN = 'ListenStream=127.0.0.1:9007';

export async function runSystemdDowntime(opts: {quick: boolean; cycles: number; measure: Measure}): Promise<DowntimeRow[]> {
  await ensureSystemdImage();
  const sigstore = await createTestTrustRoot();
  try {
    const rows: DowntimeRow[] = [];
    for (const mode of MODES) rows.push(await measureMode(mode, sigstore, opts));
    return rows;
  } finally {
    await sigstore.close();
  }
}

/** One mode on a fresh container: v1.0.0 running, v1.1.0 published, then `cycles` × (update, rollback) under load. */
async function measureMode(mode: SystemdMode, sigstore: TestSigstore, opts: {quick: boolean; cycles: number; measure: Measure}): Promise<DowntimeRow> {
  const world = await makeSignedWorld({app: UNIT, sigstore});
  let host: SystemdHost | undefined;
  try {
    // The settle window only lengthens each run; quick runs keep it short.
    host = await installedHost(world, mode, {settleSeconds: opts.quick ? 1 : 5});
    await world.publish(await templateRelease('1.1.0'));
    const running = host;
    const result = await opts.measure(running.healthUrl, async () => {
      for (let cycle = 0; cycle < opts.cycles; cycle++) {
        expectOk(await running.parako(['update']), `cycle ${cycle + 1}: parako update`);
        expectOk(await running.parako(['rollback']), `cycle ${cycle + 1}: parako rollback`);
      }
    });
    // Only the row's fields: a measure may return more (its windows, its baseline).
    const {sent, failed, failures, p99Ms, windowMs, outageMs} = result;
    return {supervisor: 'systemd', mode, cycles: opts.cycles, sent, failed, failures, p99Ms, windowMs, outageMs};
  } finally {
    await host?.container.remove();
    await world.cleanup();
  }
}

export interface SystemdHost {
  container: SystemdContainer;
  port: number;
  healthUrl: string;
  /** `parako <args> --dir /opt/parako-id` inside the container. */
  parako(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

/**
 * What an operator sets up, in a fresh container: the user, the unit(s) from the templates,
 * parako.json naming the service, v1.0.0 of the template app installed with --no-restart, then
 * `systemctl enable --now`. v1.0.0 answers when this returns. The caller removes the container
 * (also when this throws: `onContainer` hands it over as soon as it exists).
 */
export async function installedHost(
  world: SignedWorld,
  mode: SystemdMode,
  opts: {settleSeconds: number; env?: Record<string, string>; onContainer?: (container: SystemdContainer) => void},
): Promise<SystemdHost> {
  const port = await freePort();
  const healthUrl = `http://127.0.0.1:${port}/health`;
  await world.writeConfig({
    supervisor: {type: 'systemd', units: [UNIT], settleSeconds: opts.settleSeconds},
    health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true},
  });
  const keys = dirname(world.keyFile);
  const container = await startSystemdContainer([{host: world.dir, container: INSTALL_DIR}, {host: keys, container: keys, readOnly: true}]);
  opts.onContainer?.(container);
  const parako = (args: string[], env: Record<string, string> = {}) => container.parako([...args, '--dir', INSTALL_DIR], {env: {...opts.env, ...env}});
  await container.sh('useradd --system --no-create-home --shell /usr/sbin/nologin parako');
  // PORT is what the plain unit's app binds; with the socket it is the fallback, unused.
  await container.writeFile(`${INSTALL_DIR}/runtime/.env`, `PORT=${port}\n`);
  for (const [name, text] of Object.entries(await unitFiles(mode, port))) await container.writeFile(`/etc/systemd/system/${name}`, text);

  await world.publish(await templateRelease('1.0.0'));
  expectOk(await parako(['update', '--no-restart']), 'parako update --no-restart');
  const units = mode === 'socket activation' ? `${UNIT}.socket ${UNIT}.service` : `${UNIT}.service`;
  await container.sh(`systemctl daemon-reload && systemctl enable --now ${units}`);
  await waitForVersion(healthUrl, '1.0.0');
  return {container, port, healthUrl, parako};
}

/** The unit files as installed on the host (name under /etc/systemd/system -> text): the templates, with this host's port. */
export async function unitFiles(mode: SystemdMode, port: number): Promise<Record<string, string>> {
  if (mode === 'restart') return {[`${UNIT}.service`]: await readFile(join(TEMPLATES, 'parako-id.service'), 'utf8')};
  const socket = await readFile(join(TEMPLATES, 'parako-id.socket'), 'utf8');
  if (!socket.includes(TEMPLATE_LISTEN)) throw new Error(`templates/systemd/parako-id.socket no longer says ${TEMPLATE_LISTEN}; update bench/downtime/systemd.ts`);
  return {
    [`${UNIT}.socket`]: socket.replace(TEMPLATE_LISTEN, `ListenStream=127.0.0.1:${port}`),
    // Installed under the service's own name: the socket activates (and passes its fd to) parako-id.service.
    [`${UNIT}.service`]: await readFile(join(TEMPLATES, 'parako-id-socket-activated.service'), 'utf8'),
  };
}

/** A release of templates/systemd/server.js as it ships; its version comes from the release's release.json. */
export async function templateRelease(version: string): Promise<ReleaseSpec> {
  return {version, notes: `template app v${version}`, files: {'server.js': await readFile(join(TEMPLATES, 'server.js'), 'utf8')}};
}

function expectOk(result: CliResult, what: string): void {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`);
}
