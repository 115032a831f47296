/**
 * The hooks called the way parako calls them: with a `{ctx}` from the SDK's testContext (an
 * update of demo-app from v1.0.0 to v1.1.0), against a real HTTP server on 127.0.0.1 that
 * plays the service.
 */
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';

import {type HookContext, testContext} from 'parako';
import {afterEach, describe, expect, it} from 'vitest';

import health from '../src/hooks/health.js';
import notify from '../src/hooks/notify.js';

const PLUGIN_NAME = '__PLUGIN_NAME__';

let server: Server | undefined;

/** A service on 127.0.0.1 that answers every request with `status`; returns its URL. */
async function serviceAnswering(status: number): Promise<string> {
  server = createServer((_request, response) => response.writeHead(status).end(status < 300 ? 'ok' : 'broken'));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`;
}

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

function configWith(settings: unknown): HookContext['config'] {
  return {app: 'demo-app', keepReleases: 3, plugins: {[PLUGIN_NAME]: settings}};
}

describe('health', () => {
  it('passes when the URL answers 2xx', async () => {
    const url = await serviceAnswering(200);
    const {ctx, logged} = testContext('health', {config: configWith({url})});
    await expect(health({ctx})).resolves.toBeUndefined();
    expect(logged).toContainEqual({level: 'info', fields: {url, status: 200}, message: 'probe passed'});
  });

  it('fails with the URL and the status when the service answers 500', async () => {
    const url = await serviceAnswering(500);
    const {ctx} = testContext('health', {config: configWith({url})});
    await expect(health({ctx})).rejects.toThrow(`GET ${url} answered HTTP 500, expected 2xx`);
  });

  it('fails with the reason when nothing listens', async () => {
    const url = await serviceAnswering(200);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const {ctx} = testContext('health', {config: configWith({url})});
    await expect(health({ctx})).rejects.toThrow(/ECONNREFUSED/);
  });

  it('names the parako.json key to set when the URL is missing', async () => {
    const {ctx} = testContext('health');
    await expect(health({ctx})).rejects.toThrow(`plugins["${PLUGIN_NAME}"] in /opt/demo-app/parako.json is not set`);
  });
});

describe('notify', () => {
  it('logs the outcome', async () => {
    const outcome = {outcome: 'updated', code: 0, message: 'updated v1.0.0 -> v1.1.0', from: '1.0.0', to: '1.1.0', migrationRan: false, backup: null, records: {}, durationMs: 1200};
    const {ctx, logged} = testContext('notify', {outcome});
    await notify({ctx});
    expect(logged).toEqual([
      {level: 'info', fields: {operation: 'update', app: 'demo-app', outcome: 'updated', code: 0, from: '1.0.0', to: '1.1.0', durationMs: 1200}, message: 'updated v1.0.0 -> v1.1.0'},
    ]);
  });
});
