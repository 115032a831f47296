/**
 * The hook points of architecture.md §4 through a real oclif plugin linked into the real CLI: each
 * point runs in pipeline order with the documented context, a gating veto stops the run
 * before anything changes, and notify never changes the outcome (architecture.md §4).
 */
import {readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {makeRecordingPlugin, type RecordingPlugin} from '../fixtures/plugin.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, expectUnchanged, jsonOf, parako, snapshotInstall, useSignedWorlds} from './helpers.js';

const worlds = useSignedWorlds();
let world: SignedWorld;

async function installedWorld(config: Record<string, unknown> = {}): Promise<void> {
  world = await worlds.make();
  await world.writeConfig(config);
  await world.publish({version: '1.0.0'});
  expectExit(await parako(world, ['update']), 0);
  await world.publish({version: '1.1.0', migration: {command: 'true'}});
}

/** Adds `"parako": {"actsWhen": …}` to a recording plugin's package.json. */
async function declareActsWhen(plugin: RecordingPlugin, actsWhen: unknown): Promise<void> {
  const file = join(plugin.root, 'package.json');
  const pjson = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({...pjson, parako: {actsWhen}}, null, 2));
}

interface ListedHook {
  plugin: string;
  origin: string;
  acts: boolean;
  idle?: string;
}

const PM2_HOST = {supervisor: {type: 'pm2', apps: ['web']}};
const FIRST_PARTY_IDLE_ON_PM2 = {
  '@parako/plugin-systemd': 'supervisor.type is "pm2" in parako.json, this plugin acts when it is "systemd"',
  '@parako/plugin-compose': 'supervisor.type is "pm2" in parako.json, this plugin acts when it is "compose"',
  '@parako/plugin-supervisord': 'supervisor.type is "pm2" in parako.json, this plugin acts when it is "supervisord"',
  '@parako/plugin-backup-mysql': 'parako.json sets no backup.type, this plugin acts when it is "mysql"',
  '@parako/plugin-backup-postgres': 'parako.json sets no backup.type, this plugin acts when it is "postgres"',
  '@parako/plugin-backup-mongo': 'parako.json sets no backup.type, this plugin acts when it is "mongo"',
  '@parako/plugin-backup-sqlite': 'parako.json sets no backup.type, this plugin acts when it is "sqlite"',
  '@parako/plugin-notify-webhook': 'parako.json sets no plugins.@parako/plugin-notify-webhook',
};

describe('hook points', () => {
  it('an update runs every point in pipeline order with the documented context', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root);
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 0);
    // The first-party supervisor plugins are idle without a supervisor: only this one restarted.
    expect(result.stdout).toContain(`restart hooks ran (${plugin.name}); no supervisor configured`);
    const calls = await plugin.calls();
    expect(calls.map((c) => c.point)).toEqual(['pre-download', 'post-verify', 'pre-swap', 'post-swap', 'restart', 'health', 'notify']);
    for (const call of calls) {
      expect(call).toMatchObject({plugin: plugin.name, operation: 'update', dryRun: false, app: 'demo-app', dir: world.dir, from: '1.0.0', to: '1.1.0'});
      expect(call.toPath).toBe(`${world.dir}/releases/v1.1.0`);
    }
    expect(calls[0]!.manifestVersion).toBeNull(); // pre-download: nothing verified yet
    expect(calls[1]!.manifestVersion).toBe('1.1.0'); // post-verify: release.json is known
    expect(calls.find((c) => c.point === 'pre-swap')?.backupWanted).toBe(true); // the release migrates
    expect(calls.at(-1)?.outcome).toEqual({outcome: 'updated', code: 0});
  });

  it('a rollback runs pre-swap, post-swap, restart, health and notify', async () => {
    await installedWorld();
    expectExit(await parako(world, ['update']), 0);
    const plugin = await makeRecordingPlugin(world.root);
    expectExit(await parako(world, ['rollback'], {env: plugin.env}), 0);
    const calls = await plugin.calls();
    expect(calls.map((c) => c.point)).toEqual(['pre-swap', 'post-swap', 'restart', 'health', 'notify']);
    expect(calls[0]).toMatchObject({operation: 'rollback', from: '1.1.0', to: '1.0.0'});
    expect(calls.at(-1)?.outcome).toEqual({outcome: 'rolled-back', code: 0});
  });

  it('a dry run runs pre-download and post-verify only, with dryRun set', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root);
    expectExit(await parako(world, ['update', '--dry-run'], {env: plugin.env}), 0);
    const calls = await plugin.calls();
    expect(calls.map((c) => [c.point, c.dryRun])).toEqual([['pre-download', true], ['post-verify', true]]);
  });

  it('a pre-swap veto exits 6 naming the plugin and its message, leaves current untouched, and notify still runs', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-window', {'pre-swap': {veto: 'outside the maintenance window'}});
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update', '--json'], {env: plugin.env});
    expectExit(result, 6);
    expect(jsonOf(result)).toMatchObject({code: 6, reason: 'hook', from: '1.0.0', to: '1.1.0'});
    expect(String(jsonOf(result).message)).toContain('pre-swap hook of parako-plugin-window vetoed: outside the maintenance window');
    // A veto is a decision: its next says to wait or change the settings, not to remove the plugin.
    expect(String(jsonOf(result).next)).toMatch(/^parako-plugin-window said no on purpose: run this again when what it names is over, or change its settings/);
    expect(String(jsonOf(result).next)).not.toContain('remove the plugin');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    // The release staged before the veto is removed again; only the releases/ dir's own mtime moved.
    await expectUnchanged(world, before, {ignoreReleasesDirMtime: true});
    const points = (await plugin.calls()).map((c) => c.point);
    expect(points).toEqual(['pre-download', 'post-verify', 'pre-swap', 'notify']);
    expect((await plugin.calls()).at(-1)?.outcome).toEqual({outcome: 'failed', code: 6});
  });

  it('a hook that hangs is stopped at its timeout and fails the phase', async () => {
    await installedWorld({hooks: {timeoutSeconds: {'pre-download': 1}}});
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-slow', {'pre-download': {hang: true}});
    const started = Date.now();
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.stderr).toContain('pre-download hook of parako-plugin-slow did not finish within 1 s');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a throwing notify hook does not change the exit code', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-pager', {notify: {throw: 'pager service down'}});
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('a plugin the store lists but that cannot be loaded stops an update before anything changes (exit 6)', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-gone');
    await rm(plugin.root, {recursive: true, force: true});
    const before = await snapshotInstall(world);
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expect(result.stderr).toContain('plugin parako-plugin-gone (link');
    expect(result.stderr).toContain('could not be loaded');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectUnchanged(world, before);
  });

  it('plugins of one point run one after another, in name order unless hooks.order says otherwise', async () => {
    await installedWorld();
    const b = await makeRecordingPlugin(world.root, 'parako-plugin-b');
    const a = await makeRecordingPlugin(world.root, 'parako-plugin-a');
    const env = {...a.env, ...b.env};
    expectExit(await parako(world, ['update', '--dry-run'], {env}), 0);
    const order = async () => [...(await a.calls()), ...(await b.calls())];
    const first = await order();
    expect(first.filter((c) => c.point === 'pre-download').map((c) => c.plugin).sort()).toEqual(['parako-plugin-a', 'parako-plugin-b']);
    // Both record to their own file; the run order shows in the log of the real run below.
    await world.writeConfig({hooks: {order: ['parako-plugin-b']}});
    const result = await parako(world, ['update', '--dry-run', '--log-level', 'info'], {env});
    expectExit(result, 0);
    const starts = result.stderr
      .split('\n')
      .filter((line) => line.includes('"hook start"') && line.includes('"pre-download"'))
      .map((line) => (JSON.parse(line) as {plugin: string}).plugin);
    expect(starts).toEqual(['parako-plugin-b', 'parako-plugin-a']);
  });
});

describe('which plugins act on this host', () => {
  it('parako hooks on a pm2 host: pm2 acts at restart, the other first-party plugins are idle with their reasons', async () => {
    world = await worlds.make();
    await world.writeConfig(PM2_HOST);
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-inhouse');

    const human = await parako(world, ['hooks'], {env: plugin.env});
    expectExit(human, 0);
    const lines = human.stdout.split('\n');
    const restart = lines.slice(lines.indexOf(lines.find((line) => line.startsWith('restart  '))!) + 1);
    expect(restart[0]).toMatch(/^ {2}1\. @parako\/plugin-pm2 +0\.1\.0 +first-party +acts$/);
    expect(restart[1]).toMatch(/^ {2}2\. parako-plugin-inhouse +1\.2\.3 +linked +acts /);
    expect(restart[2]).toMatch(/^ {2}- +@parako\/plugin-compose .* idle \(supervisor\.type is "pm2" in parako\.json, this plugin acts when it is "compose"\)$/);
    expect(restart[3]).toMatch(/^ {2}- +@parako\/plugin-supervisord .* idle \(supervisor\.type is "pm2" in parako\.json, this plugin acts when it is "supervisord"\)$/);
    expect(restart[4]).toMatch(/^ {2}- +@parako\/plugin-systemd .* idle \(supervisor\.type is "pm2" in parako\.json, this plugin acts when it is "systemd"\)$/);
    expect(human.stdout).toMatch(/^ {2}@parako\/plugin-pm2 +0\.1\.0 +first-party +acts: supervisor\.type is "pm2" in parako\.json$/m);
    for (const [name, why] of Object.entries(FIRST_PARTY_IDLE_ON_PM2)) {
      expect(human.stdout).toMatch(new RegExp(`^  ${name} +0\\.1\\.0 +first-party +idle: ${why.replaceAll('.', '\\.')}$`, 'm'));
    }
    expect(human.stdout).toMatch(/^ {2}parako-plugin-inhouse +1\.2\.3 +linked +acts on every run: declares no condition /m);

    const listing = jsonOf(await parako(world, ['hooks', '--json'], {env: plugin.env})) as {hooks: Record<string, ListedHook[]>; plugins: Array<ListedHook & {verdict: string}>};
    expect(listing.hooks.restart!.map(({plugin: name, acts, idle}) => ({plugin: name, acts, idle}))).toEqual([
      {plugin: '@parako/plugin-pm2', acts: true, idle: undefined},
      {plugin: 'parako-plugin-inhouse', acts: true, idle: undefined},
      {plugin: '@parako/plugin-compose', acts: false, idle: FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-compose']},
      {plugin: '@parako/plugin-supervisord', acts: false, idle: FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-supervisord']},
      {plugin: '@parako/plugin-systemd', acts: false, idle: FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-systemd']},
    ]);
    expect(listing.hooks['pre-swap']!.filter((hook) => hook.origin === 'first-party').map(({plugin: name, acts, idle}) => [name, acts, idle])).toEqual([
      ['@parako/plugin-backup-mongo', false, FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-backup-mongo']],
      ['@parako/plugin-backup-mysql', false, FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-backup-mysql']],
      ['@parako/plugin-backup-postgres', false, FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-backup-postgres']],
      ['@parako/plugin-backup-sqlite', false, FIRST_PARTY_IDLE_ON_PM2['@parako/plugin-backup-sqlite']],
    ]);
    const acting = listing.plugins.filter((entry) => entry.acts).map((entry) => entry.plugin);
    expect(acting).toEqual(['@parako/plugin-pm2', 'parako-plugin-inhouse']);
    expect(Object.fromEntries(listing.plugins.filter((entry) => !entry.acts).map((entry) => [entry.plugin, entry.idle]))).toEqual(FIRST_PARTY_IDLE_ON_PM2);
    expect(listing.plugins.find((entry) => entry.plugin === 'parako-plugin-inhouse')?.verdict).toBe('acts on every run: declares no condition');
  });

  it('without a parako.json every plugin that declares a condition is idle with "no parako.json"', async () => {
    world = await worlds.make();
    const listing = jsonOf(await parako(world, ['hooks', '--json'])) as {hooks: Record<string, ListedHook[]>};
    expect(listing.hooks.restart!.map(({acts, idle}) => ({acts, idle}))).toEqual(Array(4).fill({acts: false, idle: 'no parako.json'}));
  });

  it('an in-house plugin whose actsWhen does not match is never run by an update', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-pm2-only');
    await declareActsWhen(plugin, {'supervisor.type': 'pm2'});
    const listing = jsonOf(await parako(world, ['hooks', '--json'], {env: plugin.env})) as {hooks: Record<string, ListedHook[]>};
    expect(listing.hooks.notify!.filter((hook) => hook.origin !== 'first-party')).toEqual([expect.objectContaining({plugin: plugin.name, acts: false, idle: 'parako.json sets no supervisor.type, this plugin acts when it is "pm2"'})]);

    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 0);
    expect(result.stdout).toContain('no supervisor configured: restart the service yourself');
    expect(await plugin.calls()).toEqual([]);
  });

  it('a plugin whose actsWhen is malformed is a problem parako hooks names, and an update stops before anything changes', async () => {
    await installedWorld();
    const plugin = await makeRecordingPlugin(world.root, 'parako-plugin-garbled');
    await declareActsWhen(plugin, {'supervisor.type': ['pm2', 'systemd']});

    const human = await parako(world, ['hooks'], {env: plugin.env});
    expectExit(human, 0);
    expect(human.stdout).toContain('PROBLEM:      parako-plugin-garbled: its package.json has parako.actsWhen {"supervisor.type":["pm2","systemd"]}, which is not a map of parako.json paths to strings');

    const before = await snapshotInstall(world);
    const result = await parako(world, ['update'], {env: plugin.env});
    expectExit(result, 6);
    expect(result.stderr).toContain('pre-download hooks cannot run: plugin parako-plugin-garbled: its package.json has parako.actsWhen');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    await expectUnchanged(world, before);
    expect(await plugin.calls()).toEqual([]); // its own hooks never run, notify included
  });
});
