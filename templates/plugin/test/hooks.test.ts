/**
 * The hooks called the way parako calls them: with a `{ctx}` made by hand, against a real
 * HTTP server on 127.0.0.1 that plays the service.
 */
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';

import type {HookContext} from 'parako';
import {afterEach, describe, expect, it} from 'vitest';

import health from '../src/hooks/health.js';
import notify from '../src/hooks/notify.js';

const PLUGIN_NAME = '__PLUGIN_NAME__';

interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A context as parako builds it, with only what these hooks read; `logged` collects ctx.log calls. */
function contextAt(point: HookContext['point'], extra: Partial<HookContext> = {}): {ctx: HookContext; logged: LogLine[]} {
  const logged: LogLine[] = [];
  const line = (level: string) => (fields: Record<string, unknown>, message: string) => logged.push({level, fields, message});
  const log = {info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug')};
  const ctx = {
    point,
    operation: 'update',
    dryRun: false,
    app: 'demo-app',
    dir: '/opt/demo-app',
    from: {version: '1.0.0', path: '/opt/demo-app/releases/v1.0.0'},
    to: {version: '1.1.0', path: '/opt/demo-app/releases/v1.1.0'},
    config: {app: 'demo-app', plugins: {}},
    log,
    signal: new AbortController().signal,
    exec: async () => ({code: 0, stdout: '', stderr: ''}),
    record: () => {},
    say: () => {},
    ...extra,
  } as unknown as HookContext;
  return {ctx, logged};
}

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
  return {app: 'demo-app', plugins: {[PLUGIN_NAME]: settings}} as unknown as HookContext['config'];
}

describe('health', () => {
  it('passes when the URL answers 2xx', async () => {
    const url = await serviceAnswering(200);
    const {ctx, logged} = contextAt('health', {config: configWith({url})});
    await expect(health({ctx})).resolves.toBeUndefined();
    expect(logged).toContainEqual({level: 'info', fields: {url, status: 200}, message: 'probe passed'});
  });

  it('fails with the URL and the status when the service answers 500', async () => {
    const url = await serviceAnswering(500);
    const {ctx} = contextAt('health', {config: configWith({url})});
    await expect(health({ctx})).rejects.toThrow(`GET ${url} answered HTTP 500, expected 2xx`);
  });

  it('fails with the reason when nothing listens', async () => {
    const url = await serviceAnswering(200);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const {ctx} = contextAt('health', {config: configWith({url})});
    await expect(health({ctx})).rejects.toThrow(/ECONNREFUSED/);
  });

  it('names the parako.json key to set when the URL is missing', async () => {
    const {ctx} = contextAt('health');
    await expect(health({ctx})).rejects.toThrow(`plugins["${PLUGIN_NAME}"] in /opt/demo-app/parako.json is not set`);
  });
});

describe('notify', () => {
  it('logs the outcome', async () => {
    const outcome = {outcome: 'updated', code: 0, message: 'updated v1.0.0 -> v1.1.0', from: '1.0.0', to: '1.1.0', migrationRan: false, backup: null, records: {}, durationMs: 1200};
    const {ctx, logged} = contextAt('notify', {outcome});
    await notify({ctx});
    expect(logged).toEqual([
      {level: 'info', fields: {operation: 'update', app: 'demo-app', outcome: 'updated', code: 0, from: '1.0.0', to: '1.1.0', durationMs: 1200}, message: 'updated v1.0.0 -> v1.1.0'},
    ]);
  });
});
