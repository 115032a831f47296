/**
 * The Ansible role and playbooks of templates/ansible/ (docs/fleet.md), run by the real
 * ansible-playbook against three hosts on this machine that differ only in `parako_dir`
 * (`ansible_connection=local`), fed by one signed feed, each with its own health endpoint
 * (test/fixtures/fleet.ts): a good release reaches every host one batch after the other; a
 * release unhealthy on the second host is rolled back there, stops the rollout, and leaves the
 * third host untouched, and the same exact version resumes it; a bad signature stops everything
 * at the preflight; rollback.yml takes every host back; parako_install installs parako from the
 * standalone tarball (a stand-in with the same layout) first.
 */
import {execFile} from 'node:child_process';
import {chmod, mkdir, readlink, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {promisify} from 'node:util';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {repoRoot} from '../fixtures/cli.js';
import {ansiblePlaybookMissing, type Fleet, makeFleet, type PlaybookResult, summaryLines, updateOrder} from '../fixtures/fleet.js';
import {createTestTrustRoot, generateTestKeyPair, type TestSigstore} from '../fixtures/sigstore.js';
import {diffTrees, snapshotTree, UNCHANGED} from '../fixtures/tree.js';
import type {World} from '../fixtures/world.js';
import {history} from './helpers.js';

const missing = await ansiblePlaybookMissing();
if (missing !== false && process.env.CI === 'true') {
  throw new Error(`CI must provide ansible-playbook (.ci/run installs Debian's ansible-core): ${missing}`);
}

let sigstore: TestSigstore;
const fleets: Fleet[] = [];
beforeAll(async () => {
  sigstore = await createTestTrustRoot();
});
afterAll(async () => {
  await sigstore?.close();
});
afterEach(async () => {
  for (const fleet of fleets.splice(0)) await fleet.cleanup();
});

async function newFleet(): Promise<Fleet> {
  const fleet = await makeFleet({sigstore});
  fleets.push(fleet);
  return fleet;
}

async function currentOf(fleet: Fleet, host: string): Promise<string> {
  return readlink(join(fleet.dirOf(host), 'current'));
}

/** The history of a host's install dir (helpers.history reads a World's dir). */
function historyOf(fleet: Fleet, host: string): Promise<Array<Record<string, unknown>>> {
  return history({dir: fleet.dirOf(host)} as World);
}

/** A case runs ansible-playbook up to five times, each running parako once or twice per host. */
const PLAYBOOK_TIMEOUT_MS = 300_000;

function explain(result: PlaybookResult): string {
  return `ansible-playbook exited ${result.code}\n${result.output}`;
}

describe.skipIf(missing !== false)(`rolling-update.yml and rollback.yml with ansible-playbook${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('a good release reaches every host, one batch after the other, after a preflight on all of them; rollback.yml takes them back', async () => {
    const fleet = await newFleet();
    await fleet.world.publish({version: '1.1.0'});
    const before = await Promise.all(fleet.hosts.map((host) => snapshotTree(fleet.dirOf(host), UNCHANGED)));

    // --check: a dry run on every host, nothing changed.
    const check = await fleet.playbook('rolling-update.yml', ['--check']);
    expect(check.code, explain(check)).toBe(0);
    expect(summaryLines(check)).toEqual(['web1: check mode: would go 1.0.0 -> 1.1.0', 'web2: check mode: would go 1.0.0 -> 1.1.0', 'web3: check mode: would go 1.0.0 -> 1.1.0']);
    for (const [index, host] of fleet.hosts.entries()) {
      expect(diffTrees(before[index]!, await snapshotTree(fleet.dirOf(host), UNCHANGED)), `--check changed ${host}`).toEqual([]);
    }

    const result = await fleet.playbook('rolling-update.yml');
    expect(result.code, explain(result)).toBe(0);
    for (const host of fleet.hosts) expect(await currentOf(fleet, host), host).toBe('releases/v1.1.0');

    // The preflight ran parako on every host (ok: a dry run changes nothing) before the first update.
    const preflight = result.output.slice(0, result.output.indexOf('PLAY [Update (parako update, batch by batch)]'));
    const dryRuns = /TASK \[parako : Run parako update\][^\n]*\n((?:ok: \[[\w-]+\]\n)+)/.exec(preflight)?.[1] ?? '';
    expect(dryRuns.trim().split('\n').sort(), `the preflight's parako runs\n${result.output}`).toEqual(['ok: [web1]', 'ok: [web2]', 'ok: [web3]']);
    // serial 1: one host per batch, in inventory order, each started after the one before ended.
    expect(updateOrder(result)).toEqual(['web1', 'web2', 'web3']);
    expect(result.output.split('PLAY [Update (parako update, batch by batch)]').length - 1, 'one batch per host').toBe(3);
    const updates = await Promise.all(fleet.hosts.map(async (host) => (await historyOf(fleet, host)).at(-1)!));
    for (const line of updates) expect(line).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'updated', code: 0});
    const span = updates.map((line) => ({end: Date.parse(String(line.at)), start: Date.parse(String(line.at)) - Number(line.durationMs)}));
    expect(span[1]!.start).toBeGreaterThanOrEqual(span[0]!.end);
    expect(span[2]!.start).toBeGreaterThanOrEqual(span[1]!.end);

    expect(summaryLines(result)).toEqual(['web1: 1.0.0 -> 1.1.0: updated', 'web2: 1.0.0 -> 1.1.0: updated', 'web3: 1.0.0 -> 1.1.0: updated']);
    expect(result.output).toMatch(/web1\s+: ok=\d+\s+changed=1\s+unreachable=0\s+failed=0/);

    // Running it again changes nothing: every host is ok (up to date), none changed.
    const again = await fleet.playbook('rolling-update.yml');
    expect(again.code, explain(again)).toBe(0);
    expect(summaryLines(again)).toEqual(['web1: 1.1.0 -> 1.1.0: up-to-date', 'web2: 1.1.0 -> 1.1.0: up-to-date', 'web3: 1.1.0 -> 1.1.0: up-to-date']);
    expect(again.output).not.toMatch(/changed=[1-9]/);

    const back = await fleet.playbook('rollback.yml', ['-e', 'parako_rollback_to=1.0.0']);
    expect(back.code, explain(back)).toBe(0);
    for (const host of fleet.hosts) expect(await currentOf(fleet, host), host).toBe('releases/v1.0.0');
    expect(summaryLines(back)).toEqual(['web1: 1.1.0 -> 1.0.0: rolled-back', 'web2: 1.1.0 -> 1.0.0: rolled-back', 'web3: 1.1.0 -> 1.0.0: rolled-back']);

    // parako_serial 2: two hosts in the first batch, the third in the second.
    const pairs = await fleet.playbook('rolling-update.yml', ['-e', 'parako_serial=2', '-e', 'parako_version=1.1.0']);
    expect(pairs.code, explain(pairs)).toBe(0);
    const batches = pairs.output.split('PLAY [Update (parako update, batch by batch)]').slice(1, 3);
    expect(batches.map((batch) => [...batch.matchAll(/^changed: \[([\w-]+)\]$/gm)].map((m) => m[1]).sort())).toEqual([['web1', 'web2'], ['web3']]);
    for (const host of fleet.hosts) expect(await currentOf(fleet, host), host).toBe('releases/v1.1.0');
  }, PLAYBOOK_TIMEOUT_MS);

  it('a release unhealthy on the second host is rolled back there (exit 7 fails the host), the rollout stops, and the third host stays on the old release; the same exact version resumes it', async () => {
    const fleet = await newFleet();
    fleet.breakOn('web2', '1.1.0');
    await fleet.world.publish({version: '1.1.0'});
    const web3Before = await snapshotTree(fleet.dirOf('web3'), UNCHANGED);

    const result = await fleet.playbook('rolling-update.yml');
    expect(result.code, explain(result)).toBe(2); // ansible-playbook: a host failed
    expect(await currentOf(fleet, 'web1')).toBe('releases/v1.1.0');
    expect(await currentOf(fleet, 'web2')).toBe('releases/v1.0.0');
    expect((await historyOf(fleet, 'web2')).at(-1)).toMatchObject({operation: 'update', from: '1.0.0', to: '1.1.0', outcome: 'auto-rolled-back', code: 7});
    // web3 was never run: its install dir is as it was, history included.
    expect(diffTrees(web3Before, await snapshotTree(fleet.dirOf('web3'), UNCHANGED)), 'web3 changed').toEqual([]);
    expect(await historyOf(fleet, 'web3')).toHaveLength(1);
    expect(updateOrder(result)).toEqual(['web1', 'web2']);

    // The failure in parako's words: its message and its next line.
    expect(result.output).toMatch(/fatal: \[web2\]: FAILED! => \{[^\n]*parako update exited 7 \(auto-rolled-back\): v1\.1\.0 was unhealthy[^\n]*next: /);
    const lines = summaryLines(result);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('web1: 1.0.0 -> 1.1.0: updated');
    expect(lines[1]).toMatch(/^web2: 1\.0\.0 -> 1\.1\.0: auto-rolled-back \(exit 7\): v1\.1\.0 was unhealthy .*rolled back automatically, v1\.0\.0 is running again/);
    expect(lines[2]).toBe('web3: not reached: still on 1.0.0 (would go to 1.1.0)');
    expect(result.output).toMatch(/web2\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1/);
    expect(result.output).toMatch(/web3\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0/);

    // Resuming as docs/fleet.md says: the same exact version retries web2 and goes on to web3.
    fleet.fix('web2', '1.1.0');
    const resumed = await fleet.playbook('rolling-update.yml', ['-e', 'parako_version=1.1.0']);
    expect(resumed.code, explain(resumed)).toBe(0);
    expect(summaryLines(resumed)).toEqual(['web1: 1.1.0 -> 1.1.0: up-to-date', 'web2: 1.0.0 -> 1.1.0: updated', 'web3: 1.0.0 -> 1.1.0: updated']);
    for (const host of fleet.hosts) expect(await currentOf(fleet, host), host).toBe('releases/v1.1.0');
  }, PLAYBOOK_TIMEOUT_MS);

  it('a release with a bad signature fails the preflight on every host, and no host changes', async () => {
    const fleet = await newFleet();
    const release = await fleet.world.publish({version: '1.1.0'});
    // The feed now serves a bundle made with a key the hosts do not trust.
    await writeFile(release.bundleFile!, `${JSON.stringify(await sigstore.signWithKey(release.file, {key: generateTestKeyPair()}))}\n`);
    const before = await Promise.all(fleet.hosts.map((host) => snapshotTree(fleet.dirOf(host), UNCHANGED)));

    const result = await fleet.playbook('rolling-update.yml');
    expect(result.code, explain(result)).toBe(2);
    for (const [index, host] of fleet.hosts.entries()) {
      expect(diffTrees(before[index]!, await snapshotTree(fleet.dirOf(host), UNCHANGED)), `${host} changed`).toEqual([]);
      expect(await historyOf(fleet, host), host).toHaveLength(1);
    }
    expect(result.output).not.toContain('PLAY [Update (parako update, batch by batch)]');
    expect(result.output).toMatch(/parako update exited 3 \(failed\): [^\n]*signature[^\n]*does not verify with the configured key/);
    const lines = summaryLines(result);
    expect(lines).toHaveLength(3);
    for (const [index, host] of fleet.hosts.entries()) {
      expect(lines[index]).toMatch(new RegExp(`^${host}: not updated: preflight failed \\(exit 3\\): .*does not verify with the configured key`));
    }
  }, PLAYBOOK_TIMEOUT_MS);

  it('with parako_install, the role unpacks the standalone tarball, links it onto PATH, and updates with that parako', async () => {
    const fleet = await newFleet();
    await fleet.world.publish({version: '1.1.0'});
    // A stand-in for parako-v9.9.9-linux-x64.tar.gz: one dir, parako/, whose bin/parako runs this checkout's CLI.
    const staging = join(fleet.world.root, 'tarball', 'parako');
    await mkdir(join(staging, 'bin'), {recursive: true});
    const launcher = join(staging, 'bin', 'parako');
    await writeFile(launcher, `#!/bin/sh\nPARAKO_DATA_DIR=/nonexistent/parako-test-plugin-store exec '${process.execPath}' '${join(repoRoot, 'bin', 'run.js')}' "$@"\n`);
    await chmod(launcher, 0o755);
    const tarball = join(fleet.world.root, 'parako-v9.9.9-linux-x64.tar.gz');
    await promisify(execFile)('tar', ['-czf', tarball, '-C', join(fleet.world.root, 'tarball'), 'parako']);
    // The hosts share this machine: each gets its own "/opt" and "/usr/local/bin" beside its install dir.
    for (const host of fleet.hosts) await mkdir(`${fleet.dirOf(host)}-bin`);
    const vars = {
      parako_install: true,
      parako_install_tarball: tarball,
      parako_install_root: '{{ parako_dir }}-opt',
      parako_install_bin_dir: '{{ parako_dir }}-bin',
      parako_bin: '{{ parako_dir }}-bin/parako',
    };

    const result = await fleet.playbook('rolling-update.yml', ['-e', JSON.stringify(vars), '-e', 'parako_version=1.1.0']);
    expect(result.code, explain(result)).toBe(0);
    for (const host of fleet.hosts) {
      const dir = fleet.dirOf(host);
      expect(await readlink(`${dir}-opt/parako`), host).toBe('parako-9.9.9');
      expect((await stat(`${dir}-opt/parako-9.9.9/bin/parako`)).mode & 0o111, host).not.toBe(0);
      expect(await readlink(`${dir}-bin/parako`), host).toBe(`${dir}-opt/parako/bin/parako`);
      expect(await currentOf(fleet, host), host).toBe('releases/v1.1.0');
    }
    expect(summaryLines(result)).toEqual(['web1: 1.0.0 -> 1.1.0: updated', 'web2: 1.0.0 -> 1.1.0: updated', 'web3: 1.0.0 -> 1.1.0: updated']);
  }, PLAYBOOK_TIMEOUT_MS);
});
