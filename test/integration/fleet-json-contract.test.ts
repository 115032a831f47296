/**
 * The --json contract automation relies on (docs/commands.md, "The --json contract"; the
 * Ansible role of templates/ansible/ parses it): every command prints exactly one JSON object
 * with `jsonVersion` 1, `code` equal to the exit code, `outcome` and `message` strings, `from`
 * and `to` as versions or null, a `reason` from the stable list exactly when the code is
 * non-zero (but check's 9), `next` as a string when present, and, once an update or rollback
 * has begun, `migrationRan`, `backup` and `durationMs`.
 */
import {readFile, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import type {CliResult} from '../fixtures/cli.js';
import {runParako} from '../fixtures/cli.js';
import {generateTestKeyPair} from '../fixtures/sigstore.js';
import {explain, expectExit, jsonOf, parako, useSignedWorlds} from './helpers.js';

const REASONS = ['config', 'usage', 'download', 'verification', 'unsafe-archive', 'locked', 'refused', 'hook', 'migration', 'interrupted', 'disk-full', 'stage', 'unexpected', 'rolled-back', 'unhealthy'];
const VERSION = /^\d+\.\d+\.\d+/;

/** Checks the fields every result has; returns the object for the command's own checks. */
function expectContract(result: CliResult, exit: number): Record<string, unknown> {
  expectExit(result, exit);
  expect(result.stdout.trim().split('\n'), `stdout is one line\n${explain(result)}`).toHaveLength(1);
  const json = jsonOf(result);
  expect(json.jsonVersion).toBe(1);
  expect(Object.keys(json)[0], 'jsonVersion comes first').toBe('jsonVersion');
  expect(json.code).toBe(result.code);
  expect(json.outcome).toBeTypeOf('string');
  expect(json.message).toBeTypeOf('string');
  for (const key of ['from', 'to']) {
    expect(key in json, `${key} is always present`).toBe(true);
    if (json[key] !== null) expect(json[key], key).toMatch(VERSION);
  }
  if (exit === 0 || exit === 9) expect(json, 'no reason on success or check 9').not.toHaveProperty('reason');
  else expect(REASONS, `reason ${String(json.reason)}`).toContain(json.reason);
  if ('next' in json) expect(json.next).toBeTypeOf('string');
  return json;
}

/** An update or rollback that began carries these too. */
function expectBegun(json: Record<string, unknown>): void {
  expect(json.migrationRan).toBeTypeOf('boolean');
  expect(json.backup === null || typeof json.backup === 'object').toBe(true);
  expect(json.durationMs).toBeTypeOf('number');
}

const worlds = useSignedWorlds();
let server: Server;
const broken = new Set<string>();
let healthUrl = '';
let dir = '';

beforeAll(async () => {
  server = createServer((_request, response) => {
    void readFile(join(dir, 'current', 'VERSION'), 'utf8').then(
      (version) => response.writeHead(broken.has(version.trim()) ? 503 : 200).end(version),
      () => response.writeHead(503).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('the --json contract', () => {
  it('update, check, rollback, status, releases, history, prune and verify print one object with the contract fields, at exits 0, 2, 3, 5, 7 and 9', async () => {
    const world = await worlds.make();
    dir = world.dir;
    await world.writeConfig({health: {url: healthUrl, timeoutSeconds: 1}});
    await world.publish({version: '1.0.0'});

    const installed = expectContract(await parako(world, ['update', '--json']), 0);
    expect(installed).toMatchObject({outcome: 'installed', from: null, to: '1.0.0'});
    expectBegun(installed);
    expect(expectContract(await parako(world, ['update', '--json']), 0)).toMatchObject({outcome: 'up-to-date', from: '1.0.0', to: '1.0.0'});

    await world.publish({version: '1.1.0'});
    const dryRun = expectContract(await parako(world, ['update', '--dry-run', '--json']), 0);
    expect(dryRun).toMatchObject({outcome: 'dry-run', from: '1.0.0', to: '1.1.0'});
    expect(dryRun.plan).toBeTypeOf('object');
    expect(expectContract(await parako(world, ['check', '--json']), 9)).toMatchObject({outcome: 'update-available', to: '1.1.0'});

    broken.add('1.1.0');
    const rolledBack = expectContract(await parako(world, ['update', '--json']), 7);
    expect(rolledBack).toMatchObject({outcome: 'auto-rolled-back', reason: 'rolled-back', from: '1.0.0', to: '1.1.0'});
    expect(rolledBack.next).toBeTypeOf('string');
    expectBegun(rolledBack);

    await world.publish({version: '1.2.0'});
    const updated = expectContract(await parako(world, ['update', '--json']), 0);
    expect(updated).toMatchObject({outcome: 'updated', from: '1.0.0', to: '1.2.0'});
    expectBegun(updated);
    expect(expectContract(await parako(world, ['update', '--version', '1.0.0', '--json']), 5)).toMatchObject({outcome: 'failed', reason: 'refused'});
    const rollback = expectContract(await parako(world, ['rollback', '--json']), 0);
    expect(rollback).toMatchObject({outcome: 'rolled-back', from: '1.2.0', to: '1.0.0'});
    expectBegun(rollback);

    for (const [command, outcome] of [
      ['status', 'status'],
      ['releases', 'releases'],
      ['history', 'history'],
      ['prune', 'pruned'],
    ] as const) {
      expect(expectContract(await parako(world, [command, '--json']), 0).outcome, command).toBe(outcome);
    }

    const signed = await world.publish({version: '1.2.1'});
    expect(expectContract(await parako(world, ['verify', signed.file, '--json']), 0)).toMatchObject({outcome: 'verified'});

    // Failures: a bad signature (3); a bad flag, an unknown command and a version the feed lacks (2).
    const release = await world.publish({version: '1.3.0'});
    await writeFile(release.bundleFile!, JSON.stringify(await worlds.sigstore().signWithKey(release.file, {key: generateTestKeyPair()})));
    const verification = expectContract(await parako(world, ['update', '--version', '1.3.0', '--json']), 3);
    expect(verification).toMatchObject({outcome: 'failed', reason: 'verification'});
    expect(expectContract(await parako(world, ['update', '--frobnicate', '--json']), 2)).toMatchObject({outcome: 'failed', reason: 'usage'});
    expect(expectContract(await runParako(['frobnicate', '--json']), 2)).toMatchObject({outcome: 'failed', reason: 'usage'});
    expect(expectContract(await parako(world, ['update', '--version', '0.9.9', '--json']), 2)).toMatchObject({outcome: 'failed'});
  }, 180_000);
});
