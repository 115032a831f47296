/**
 * `parako schedule` against a real systemd (PID 1 in a container, test/fixtures/systemd.ts):
 * the timer it installs fires by itself, and each run is `parako update --unattended` of an
 * install dir whose app is a systemd unit. Nothing in the test starts the update service; it
 * only publishes releases and reads what happened (the journal, history.jsonl, `current`).
 */
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {repoRoot} from '../fixtures/cli.js';
import {
  appRelease, CONTAINER_NODE, freePort, type ServiceRun, serviceRuns, startSystemdContainer,
  systemdTestsMissing, useSystemdContainers, waitUntil,
} from '../fixtures/systemd.js';
import {waitForVersion} from '../fixtures/answers.js';
import {currentTarget, expectExit, history, jsonOf, useSignedWorlds} from './helpers.js';

const missing = systemdTestsMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide what the schedule tests need: ${missing}`);
}

const APP_UNIT = 'parako-id';
const INSTALL_DIR = '/opt/parako-id';
const SERVICE = 'parako-update@opt-parako\\x2did.service';
const TIMER = 'parako-update@opt-parako\\x2did.timer';
/** Every 10 s: the timer fires several times within the test, as a nightly one does over weeks. */
const EVERY_10_S = '*:*:0/10';
/** Written by v1.1.0's migration, which runs as the app's user: proof that runAs works under the unit's hardening. */
const MIGRATION_PROOF = `${INSTALL_DIR}/runtime/migration/ran`;

describe.skipIf(missing !== false)(`parako schedule with systemd as PID 1${missing === false ? '' : ` (skipped: ${missing})`}`, {timeout: 240_000}, () => {
  const worlds = useSignedWorlds();
  const containers = useSystemdContainers();

  it('the timer updates, rolls back an unhealthy release, skips it on the next run, and disable removes it all', async () => {
    const started = Date.now();
    // The host: the app as a systemd unit on v1.0.0, as in supervisor-systemd.test.ts, and a
    // policy that lets unattended runs migrate (v1.1.0 does, as the app's user).
    const world = await worlds.make({app: 'parako-id'});
    const port = await freePort();
    const healthUrl = `http://127.0.0.1:${port}/health`;
    await world.writeConfig({
      supervisor: {type: 'systemd', units: [APP_UNIT], settleSeconds: 2},
      health: {url: healthUrl, timeoutSeconds: 20, expectVersion: true},
      migration: {runAs: 'parako'},
      updates: {unattended: {migrations: true}},
    });
    await mkdir(join(world.dir, 'runtime'));
    await writeFile(join(world.dir, 'runtime', '.env'), `PORT=${port}\n`);
    const keys = dirname(world.keyFile);
    const container = await startSystemdContainer([{host: world.dir, container: INSTALL_DIR}, {host: keys, container: keys, readOnly: true}]);
    containers.push(container);
    console.log(`container ${container.id.slice(0, 12)}: ${container.bootState} after ${container.bootMs} ms`);
    await container.sh(`useradd --system --no-create-home --shell /usr/sbin/nologin parako && install -d -o parako ${dirname(MIGRATION_PROOF)}`);
    await container.writeFile(`/etc/systemd/system/${APP_UNIT}.service`, await readFile(join(repoRoot, 'templates', 'systemd', 'parako-id.service'), 'utf8'));
    const parako = (args: string[]) => container.parako([...args, '--dir', INSTALL_DIR]);
    await world.publish(appRelease('1.0.0'));
    expectExit(await parako(['update', '--no-restart']), 0);
    await container.sh(`systemctl daemon-reload && systemctl enable --now ${APP_UNIT}`);
    await waitForVersion(healthUrl, '1.0.0');

    const runs = (): Promise<ServiceRun[]> => serviceRuns(container, SERVICE);
    const describeState = async (): Promise<string> =>
      `runs: ${JSON.stringify(await runs(), null, 1)}\nhistory: ${JSON.stringify(await history(world))}\n${await container.sh(`systemctl status --no-pager ${TIMER} ${SERVICE} || true`)}`;
    /** The first finished run after `after` runs, once the journal has its result. */
    const nextRun = async (after: number, what: string): Promise<{run: ServiceRun; index: number}> =>
      waitUntil(what, async () => {
        const all = await runs();
        const index = all.findIndex((run, i) => i >= after && run.result !== null && run.systemd.some((line) => /Deactivated successfully|Failed with result/.test(line)));
        return index === -1 ? undefined : {run: all[index]!, index};
      }, {describe: describeState});

    // 1. enable: the units are written, loaded, enabled, and the timer waits for its window.
    await world.publish({...appRelease('1.1.0'), migration: {command: `id -un > ${MIGRATION_PROOF}; grep NoNewPrivs /proc/self/status >> ${MIGRATION_PROOF}`}});
    const enabled = jsonOf(await parako(['schedule', 'enable', '--on-calendar', EVERY_10_S, '--json']));
    expect(enabled).toMatchObject({code: 0, outcome: 'scheduled', units: {service: SERVICE, timer: TIMER}});
    expect(enabled.nextRun).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await container.exec(['systemctl', 'is-enabled', TIMER])).stdout.trim()).toBe('enabled');
    expect((await container.exec(['systemctl', 'is-active', TIMER])).stdout.trim()).toBe('active');
    // systemd itself finds nothing to complain about in either unit.
    const verify = await container.exec(['systemd-analyze', 'verify', `/etc/systemd/system/${SERVICE}`, `/etc/systemd/system/${TIMER}`]);
    expect({code: verify.code, output: `${verify.stdout}${verify.stderr}`}).toEqual({code: 0, output: ''});
    const hardening = await container.sh(`systemctl show -p ProtectSystem,NoNewPrivileges,RestrictSUIDSGID,ProtectKernelTunables,ProtectKernelModules,LockPersonality,ReadWritePaths,SyslogIdentifier,Type,ExecStart '${SERVICE}'`);
    expect(hardening).toContain('ProtectSystem=full');
    expect(hardening).toContain('NoNewPrivileges=yes');
    expect(hardening).toContain('RestrictSUIDSGID=yes');
    expect(hardening).toContain(`ReadWritePaths=-${INSTALL_DIR}`);
    expect(hardening).toContain(`argv[]=${CONTAINER_NODE} ${join(repoRoot, 'bin', 'run.js')} update --unattended --json --dir ${INSTALL_DIR} ;`);

    // 2. The timer fires and the run updates: current moves, the app answers v1.1.0, the
    //    migration ran as the app's user with no way back to root, the journal has the result.
    const first = await nextRun(0, 'a timer run that installs v1.1.0');
    expect(first.run.result).toMatchObject({code: 0, outcome: 'updated', from: '1.0.0', to: '1.1.0', migrationRan: true});
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await waitForVersion(healthUrl, '1.1.0');
    expect(await readFile(join(world.dir, 'runtime', 'migration', 'ran'), 'utf8')).toMatch(/^parako\nNoNewPrivs:\s+1\n$/);
    const timer = await container.sh(`systemctl show --timestamp=utc -p LastTriggerUSec '${TIMER}'`);
    expect(timer, 'the timer, not a person, started the run').toMatch(/LastTriggerUSec=\w{3} \d{4}-/);

    // 3. An unhealthy release: the next timer run rolls back by itself (exit 7, the unit failed).
    await world.publish(appRelease('1.2.0', 'broken'));
    const rollback = await nextRun(first.index + 1, 'a timer run that rolls v1.2.0 back');
    expect(rollback.run.result).toMatchObject({code: 7, outcome: 'auto-rolled-back', reason: 'rolled-back', from: '1.1.0', to: '1.2.0'});
    expect(rollback.run.systemd.join('\n')).toContain("Failed with result 'exit-code'");
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await waitForVersion(healthUrl, '1.1.0');
    expect((await history(world)).at(-1)).toMatchObject({operation: 'update', from: '1.1.0', to: '1.2.0', outcome: 'auto-rolled-back', code: 7});

    // 4. The run after it skips the bad version: up to date on v1.1.0, nothing changed.
    const historyLength = (await history(world)).length;
    const skip = await nextRun(rollback.index + 1, 'a timer run after the rollback');
    expect(skip.run.result).toMatchObject({code: 0, outcome: 'up-to-date', from: '1.1.0', to: '1.1.0'});
    expect(skip.run.systemd.join('\n')).toContain('Deactivated successfully');
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(await history(world)).toHaveLength(historyLength);

    // 5. A new window (enable again): the timer keeps its units and waits for Sunday night.
    expect(jsonOf(await parako(['schedule', 'enable', '--on-calendar', 'Sun *-*-* 03:00', '--randomized-delay', '30m', '--json']))).toMatchObject({code: 0, outcome: 'scheduled'});
    await waitUntil('the update service is idle', async () => ((await container.exec(['systemctl', 'is-active', SERVICE])).stdout.trim() === 'activating' ? undefined : true));
    const status = jsonOf(await parako(['schedule', 'status', '--json']));
    const report = status.schedule as Record<string, unknown>;
    expect(report).toMatchObject({
      enabled: true,
      onCalendar: 'Sun *-*-* 03:00',
      randomizedDelay: '30m',
      timer: {active: 'active'},
      lastHistory: {to: '1.2.0', outcome: 'auto-rolled-back'},
    });
    const next = new Date((report.timer as {nextRun: string}).nextRun);
    expect(next.getUTCDay()).toBe(0);
    expect(next.getUTCHours()).toBe(3);
    const lastRun = report.lastRun as {result: string; exitStatus: number; outcome: Record<string, unknown>};
    expect(lastRun).toMatchObject({result: 'success', exitStatus: 0});
    expect(lastRun.outcome).toMatchObject({outcome: 'up-to-date', to: '1.1.0'});
    const human = await parako(['schedule', 'status']);
    expectExit(human, 0);
    expect(human.stdout).toContain(`timer:       ${TIMER} (enabled, active)`);
    expect(human.stdout).toContain('window:      Sun *-*-* 03:00 + up to 30m');
    expect(human.stdout).toMatch(/last run:    \S+ -> \S+, succeeded\n\s+up-to-date \(exit 0\): already on v1\.1\.0; nothing to do/);
    expect(human.stdout).toMatch(/history:     \S+ update v1\.1\.0 -> v1\.2\.0: auto-rolled-back \(exit 7\)/);
    // Quoted, so that the command pasted into a shell keeps the \x2d of the unit name.
    expect(human.stdout).toContain(`logs:        journalctl -u '${SERVICE}'`);

    // 6. disable: the timer stops and both units are gone from disk and from systemd.
    const disabled = jsonOf(await parako(['schedule', 'disable', '--json']));
    expect(disabled).toMatchObject({code: 0, outcome: 'unscheduled', removed: true});
    expect(await container.sh('ls /etc/systemd/system')).not.toContain('parako-update');
    expect(await container.sh(`systemctl show -p LoadState '${TIMER}' '${SERVICE}'`)).toBe('LoadState=not-found\n\nLoadState=not-found\n');
    expect(await container.sh('systemctl list-timers --all --no-legend')).not.toContain('parako-update');
    expect(jsonOf(await parako(['schedule', 'disable', '--json']))).toMatchObject({code: 0, outcome: 'unscheduled', removed: false});
    expect(jsonOf(await parako(['schedule', 'status', '--json'])).schedule).toMatchObject({enabled: false, timer: null});
    console.log(`schedule test: ${((Date.now() - started) / 1000).toFixed(1)} s, ${(await runs()).length} timer runs`);
  });

  it('two install dirs get two timers; a dir under /usr with spaces, quotes, $ and % is one argument and stays writable', async () => {
    const world = await worlds.make({app: 'parako-id'});
    await world.writeConfig();
    const keys = dirname(world.keyFile);
    const container = await startSystemdContainer([{host: keys, container: keys, readOnly: true}]);
    containers.push(container);
    // Under /usr, which ProtectSystem=full makes read-only: only a ReadWritePaths= that names this
    // very dir lets the run install there.
    const odd = '/usr/local/other app/x"y$HOME%n';
    const config = await readFile(world.configFile, 'utf8');
    for (const dir of [INSTALL_DIR, odd]) {
      await container.exec(['mkdir', '-p', dir]);
      await container.exec(['sh', '-c', 'cat > "$1/parako.json"', 'sh', dir], {input: config});
      expectExit(await container.parako(['schedule', 'enable', '--on-calendar', '*-*-* 04:00', '--dir', dir]), 0);
    }
    // A window systemd does not take is refused, and the schedule in place stays as it was.
    const badWindow = await container.parako(['schedule', 'enable', '--on-calendar', 'Sun 25:00', '--dir', INSTALL_DIR, '--json']);
    expect(badWindow.json).toMatchObject({code: 2, reason: 'usage'});
    expect((badWindow.json as {message: string}).message).toContain('Failed to parse calendar specification');
    expect(await container.sh(`systemctl show -p TimersCalendar '${TIMER}'`)).toContain('OnCalendar=*-*-* 04:00:00');
    const escaped = (await container.exec(['systemd-escape', '--path', odd])).stdout.trim();
    const service = `parako-update@${escaped}.service`;
    const shown = await container.exec(['systemctl', 'show', '-p', 'ExecStart,Description', service]);
    // systemctl show prints the argv as loaded, before $$ becomes $ at exec time: one word, % resolved.
    expect(shown.stdout).toContain(`argv[]=${CONTAINER_NODE} ${join(repoRoot, 'bin', 'run.js')} update --unattended --json --dir ${odd.replace('$', '$$$$')} ;`);
    expect(shown.stdout).toContain(`Description=parako unattended update of ${odd}\n`);
    const timers = (await container.sh('systemctl list-timers --all --no-legend --plain')).split('\n').filter((line) => line.includes('parako-update@'));
    expect(timers).toHaveLength(2);
    // The odd dir's own run installs into it: parako got it whole and unexpanded, and may write it.
    await world.publish({version: '1.0.0'});
    await container.exec(['systemctl', 'start', service]);
    const [run] = await serviceRuns(container, service);
    expect(run?.result).toMatchObject({code: 0, outcome: 'installed', to: '1.0.0'});
    expect((await container.exec(['readlink', `${odd}/current`])).stdout.trim()).toBe('releases/v1.0.0');
    expectExit(await container.parako(['schedule', 'disable', '--dir', odd]), 0);
    const left = (await container.sh('systemctl list-timers --all --no-legend --plain')).split('\n').filter((line) => line.includes('parako-update@'));
    expect(left).toHaveLength(1);
    expect(left[0]).toContain('parako-update@opt-parako\\x2did.timer');
  });
});
