/**
 * Socket activation under a real systemd (PID 1 in a container with the host's network,
 * architecture.md §10): the parako-id.socket + parako-id.service pair and the template app as
 * shipped in templates/systemd/ (only the port changed). While parako updates and rolls back,
 * a request loop on this host, over keep-alive and fresh connections, must see no failure:
 * systemd keeps the listening socket open, so connections made during a restart wait in the
 * kernel's backlog and the next release answers them.
 */
import {readFileSync} from 'node:fs';
import {Agent, get} from 'node:http';
import {setTimeout as sleep} from 'node:timers/promises';

import {describe, expect, it} from 'vitest';

import {installedHost, type SystemdHost, type SystemdMode, templateRelease, UNIT, unitFiles} from '../../bench/downtime/systemd.js';
import type {ReleaseSpec} from '../fixtures/release.js';
import {appRelease, startSystemdContainer, type SystemdContainer, systemdTestsMissing, useSystemdContainers} from '../fixtures/systemd.js';
import {waitForVersion} from '../fixtures/answers.js';
import {expectExit, FAST_ENV, useSignedWorlds} from './helpers.js';

const missing = systemdTestsMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide what the systemd supervisor tests need: ${missing}`);
}

const SETTLE_SECONDS = 2;

describe.skipIf(missing !== false)(`systemd socket activation${missing === false ? '' : ` (skipped: ${missing})`}`, {timeout: 240_000}, () => {
  const worlds = useSignedWorlds();
  const containers = useSystemdContainers();

  async function host(mode: SystemdMode): Promise<SystemdHost & {publish(release: ReleaseSpec): Promise<void>; publishV110(): Promise<void>}> {
    const world = await worlds.make({app: UNIT});
    const installed = await installedHost(world, mode, {settleSeconds: SETTLE_SECONDS, env: FAST_ENV, onContainer: (container) => containers.push(container)});
    const publish = async (release: ReleaseSpec): Promise<void> => void (await world.publish(release));
    return {...installed, publish, publishV110: async () => publish(await templateRelease('1.1.0'))};
  }

  it('the socket and its service pass systemd-analyze verify with no warnings', async () => {
    const container = await startSystemdContainer();
    containers.push(container);
    await container.sh('useradd --system --no-create-home --shell /usr/sbin/nologin parako');
    for (const [name, text] of Object.entries(await unitFiles('socket activation', 9007))) await container.writeFile(`/etc/systemd/system/${name}`, text);
    const verify = await container.exec(['systemd-analyze', 'verify', `/etc/systemd/system/${UNIT}.socket`, `/etc/systemd/system/${UNIT}.service`]);
    expect({code: verify.code, output: `${verify.stdout}${verify.stderr}`}).toEqual({code: 0, output: ''});
  });

  it('with socket activation, an update and a rollback under load fail no request, and the socket stays open throughout', async () => {
    const server = await host('socket activation');
    await server.publishV110();
    const socketBefore = await socketUnit(server.container);
    const serviceBefore = await server.container.unit(UNIT);
    const listener = watchListener(server.port);
    const load = startLoad(server.healthUrl);

    expectExit(await server.parako(['update']), 0);
    await waitForVersion(server.healthUrl, '1.1.0');
    const serviceUpdated = await server.container.unit(UNIT);
    expectExit(await server.parako(['rollback']), 0);
    await waitForVersion(server.healthUrl, '1.0.0');

    const loaded = await load.stop();
    const listened = listener.stop();
    console.log(`socket activation: ${JSON.stringify(loaded)}; listener ${JSON.stringify(listened)}`);
    // A few hundred on an idle machine; fewer when it is busy, since each worker waits for its answer.
    expect(loaded.sent).toBeGreaterThan(100);
    expect({failed: loaded.failed, failures: loaded.failures}).toEqual({failed: 0, failures: {}});
    // Both releases answered the loop (the load spans both restarts), over both kinds of connection.
    expect(loaded.versions['1.0.0']).toBeGreaterThan(0);
    expect(loaded.versions['1.1.0']).toBeGreaterThan(0);
    expect(loaded.sentKeepAlive).toBeGreaterThan(0);
    expect(loaded.sentFresh).toBeGreaterThan(0);
    // The service's process was replaced twice; the socket was the same one, listening, at every look.
    expect(new Set([serviceBefore.MainPID, serviceUpdated.MainPID, (await server.container.unit(UNIT)).MainPID]).size).toBe(3);
    expect(listened).toMatchObject({looks: expect.any(Number), missing: 0, inodes: [socketBefore.inode]});
    expect(listened.looks).toBeGreaterThan(50);
    expect(await socketUnit(server.container)).toMatchObject({ActiveState: 'active', InvocationID: socketBefore.InvocationID});
    // Each release took the socket from systemd rather than binding PORT itself.
    const journal = await server.container.sh(`journalctl -u ${UNIT}.service --no-pager -o cat`);
    expect(journal).toContain('parako-id v1.1.0 serving the socket systemd passed (fd 3)');
    expect(journal).not.toContain('no socket from systemd');
  });

  it('a new release that exits at start is still rolled back (exit 7), and the socket stays open for the old one', async () => {
    const server = await host('socket activation');
    const socketBefore = await socketUnit(server.container);
    await server.publish(appRelease('1.1.0', 'broken'));
    const load = startLoad(server.healthUrl);
    const result = await server.parako(['update']);
    const loaded = await load.stop();
    console.log(`socket activation, broken release: ${JSON.stringify(loaded)}`);
    expectExit(result, 7);
    expect(`${result.stdout}${result.stderr}`).toContain('refusing to start: this release is broken on purpose');
    await waitForVersion(server.healthUrl, '1.0.0');
    expect(await socketUnit(server.container)).toMatchObject({ActiveState: 'active', InvocationID: socketBefore.InvocationID, inode: socketBefore.inode});
  });

  it('without the socket, the same app under the plain unit is restarted onto each version (the baseline; its failures are measured, not asserted)', async () => {
    const server = await host('restart');
    await server.publishV110();
    const load = startLoad(server.healthUrl);
    expectExit(await server.parako(['update']), 0);
    await waitForVersion(server.healthUrl, '1.1.0');
    expectExit(await server.parako(['rollback']), 0);
    await waitForVersion(server.healthUrl, '1.0.0');
    const loaded = await load.stop();
    console.log(`plain restart: ${JSON.stringify(loaded)}`);
    expect(loaded.versions['1.1.0']).toBeGreaterThan(0);
    expect(await server.container.unit(UNIT)).toMatchObject({ActiveState: 'active', SubState: 'running'});
    // With no socket unit, server.js falls back to binding PORT itself.
    const journal = await server.container.sh(`journalctl -u ${UNIT}.service --no-pager -o cat`);
    expect(journal).toContain(`parako-id v1.1.0 listening on 127.0.0.1:${server.port} (no socket from systemd)`);
    expect(listenerInode(`0100007F:${hexPort(server.port)}`)).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The request loop: real requests from this host, half over keep-alive connections (reused
// while the service restarts), half each on a new connection.

interface LoadResult {
  sent: number;
  sentKeepAlive: number;
  sentFresh: number;
  failed: number;
  /** Failures by connection kind and why: `fresh: ECONNREFUSED`, `keep-alive: ECONNRESET`, `…: timeout`, `…: HTTP 502`. */
  failures: Record<string, number>;
  /** Answers by the version in their body. */
  versions: Record<string, number>;
  slowestMs: number;
}

const WORKERS_PER_KIND = 2;
const PAUSE_MS = 10;
const REQUEST_TIMEOUT_MS = 15_000;

function startLoad(url: string): {stop(): Promise<LoadResult>} {
  const result: LoadResult = {sent: 0, sentKeepAlive: 0, sentFresh: 0, failed: 0, failures: {}, versions: {}, slowestMs: 0};
  const keepAlive = new Agent({keepAlive: true, maxSockets: WORKERS_PER_KIND});
  let running = true;
  const worker = async (kind: 'keep-alive' | 'fresh'): Promise<void> => {
    while (running) {
      const started = Date.now();
      result.sent++;
      if (kind === 'keep-alive') result.sentKeepAlive++;
      else result.sentFresh++;
      try {
        const version = await request(url, kind === 'keep-alive' ? keepAlive : false);
        result.versions[version] = (result.versions[version] ?? 0) + 1;
      } catch (error) {
        const why = `${kind}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
        result.failed++;
        result.failures[why] = (result.failures[why] ?? 0) + 1;
      }
      result.slowestMs = Math.max(result.slowestMs, Date.now() - started);
      await sleep(PAUSE_MS);
    }
  };
  const workers = [...Array.from({length: WORKERS_PER_KIND}, () => worker('keep-alive')), ...Array.from({length: WORKERS_PER_KIND}, () => worker('fresh'))];
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      keepAlive.destroy();
      return result;
    },
  };
}

/** One GET; resolves with the `version` of a 200 answer, rejects with why it failed. */
function request(url: string, agent: Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, {agent, timeout: REQUEST_TIMEOUT_MS, headers: agent === false ? {connection: 'close'} : {}}, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(String((JSON.parse(body) as {version?: unknown}).version));
        } catch {
          reject(new Error('not JSON')); // a torn body: counted as a failure
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'timeout'})));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// The listening socket, seen from this host (same network namespace as the container)

/** Looks every 10 ms at the kernel's table of TCP sockets for a listener on 127.0.0.1:port, recording its inode. */
function watchListener(port: number): {stop(): {looks: number; missing: number; inodes: string[]}} {
  const inodes = new Set<string>();
  let looks = 0;
  let missing = 0;
  const local = `0100007F:${hexPort(port)}`;
  const timer = setInterval(() => {
    looks++;
    const inode = listenerInode(local);
    if (inode === undefined) missing++;
    else inodes.add(inode);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return {looks, missing, inodes: [...inodes]};
    },
  };
}

function listenerInode(local: string): string | undefined {
  // /proc/net/tcp: sl local_address rem_address st … inode; st 0A is LISTEN.
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === '0A') return fields[9];
  }
  return undefined;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** The socket unit's state, with the inode of its listening socket (from the host's /proc/net/tcp). */
async function socketUnit(container: SystemdContainer): Promise<{ActiveState: string; InvocationID: string; inode: string | undefined; NAccepted: string}> {
  const out = await container.sh(`systemctl show -p ActiveState,InvocationID,NAccepted,Listen ${UNIT}.socket`);
  const properties = Object.fromEntries(out.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const port = /:(\d+) \(Stream\)/.exec(properties.Listen ?? '')?.[1];
  return {
    ActiveState: properties.ActiveState ?? '',
    InvocationID: properties.InvocationID ?? '',
    NAccepted: properties.NAccepted ?? '',
    inode: port === undefined ? undefined : listenerInode(`0100007F:${hexPort(Number(port))}`),
  };
}
