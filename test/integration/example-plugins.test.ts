/**
 * The example plugins of docs/plugins/examples/, linked as they are (the way
 * `parako plugins link <dir>` does) into a real `parako update`: the in-house health check
 * can make an update roll back, and the webhook notification reports the outcome without
 * ever changing it.
 */
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {repoRoot} from '../fixtures/cli.js';
import {makeSignedWorld, type SignedWorld} from '../fixtures/signed-world.js';
import {createTestTrustRoot, type TestSigstore} from '../fixtures/sigstore.js';
import {cloneInstall, currentTarget, expectExit, jsonOf, parako} from './helpers.js';

const HEALTH = 'parako-plugin-health-http';
const WEBHOOK = 'parako-plugin-notify-webhook';
const EXAMPLES = join(repoRoot, 'docs', 'plugins', 'examples');

let sigstore: TestSigstore;
let template: SignedWorld; // v1.0.0 installed by the real CLI, cloned into each test's world
let worldInUse: SignedWorld | undefined; // cleaned up after each test
let servers: Server[] = [];

beforeAll(async () => {
  sigstore = await createTestTrustRoot();
  template = await makeSignedWorld({sigstore});
  await template.writeConfig();
  await template.publish({version: '1.0.0'});
  expectExit(await parako(template, ['update'], {env: {PARAKO_DATA_DIR: join(template.root, 'no-plugins')}}), 0);
});
afterAll(async () => {
  await template?.cleanup();
  await sigstore?.close();
});
afterEach(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  servers = [];
  await worldInUse?.cleanup();
  worldInUse = undefined;
});

/** A world with v1.0.0 installed, v1.1.0 in the feed, and `plugins` as its plugin settings. */
async function worldWithUpdate(plugins: Record<string, unknown>): Promise<SignedWorld> {
  const world = await makeSignedWorld({sigstore});
  worldInUse = world;
  await cloneInstall(template, world, {plugins});
  await world.publish({version: '1.1.0'});
  return world;
}

/** Env for the CLI: a data dir whose package.json links the named example dirs, as `parako plugins link` writes it. */
async function linkExamples(root: string, ...examples: Array<'health-http' | 'notify-webhook'>): Promise<Record<string, string>> {
  const dataDir = join(root, 'oclif-data');
  await mkdir(dataDir, {recursive: true});
  const plugins = await Promise.all(
    examples.map(async (example) => {
      const pluginRoot = join(EXAMPLES, example);
      const {name} = JSON.parse(await readFile(join(pluginRoot, 'package.json'), 'utf8')) as {name: string};
      return {type: 'link', name, root: pluginRoot};
    }),
  );
  await writeFile(join(dataDir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins}}, null, 2));
  return {PARAKO_DATA_DIR: dataDir};
}

/** An HTTP server on 127.0.0.1 for this test; closed after it. */
async function serve(handler: (request: IncomingMessage, body: string, response: ServerResponse) => void | Promise<void>): Promise<string> {
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => void handler(request, body, response));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The app's own status endpoint, answered by whatever `current` runs; v1.1.0 answers `broken`, if given. */
async function appStatusServer(world: SignedWorld, broken?: {status: number; body: string}): Promise<string> {
  return serve(async (_request, _body, response) => {
    const version = (await readFile(join(world.dir, 'current', 'VERSION'), 'utf8')).trim();
    if (version === '1.1.0' && broken !== undefined) response.writeHead(broken.status).end(broken.body);
    else response.writeHead(200, {'content-type': 'application/json'}).end(`{"db":"up","version":"${version}"}`);
  });
}

interface Post {
  contentType: string | undefined;
  json: Record<string, unknown>;
}

/** A webhook receiver that records every POST and answers `status`. */
async function webhook(status = 200): Promise<{url: string; posts: Post[]}> {
  const posts: Post[] = [];
  const base = await serve((request, body, response) => {
    posts.push({contentType: request.headers['content-type'], json: JSON.parse(body) as Record<string, unknown>});
    response.writeHead(status).end(status === 200 ? 'ok' : 'no_service');
  });
  return {url: `${base}/services/T0001/B0001/s3cr3t-token`, posts};
}

/** A URL on 127.0.0.1 where nothing listens: a server bound to a free port, then closed. */
async function unreachableUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/hooks/parako`;
}

describe('health-http example plugin', () => {
  it('a healthy extra URL lets the update stand', async () => {
    const world = await worldWithUpdate({});
    const url = `${await appStatusServer(world)}/status`;
    await world.writeConfig({plugins: {[HEALTH]: {urls: [{url, bodyIncludes: '"db":"up"'}], waitSeconds: 0}}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'health-http')});
    expectExit(result, 0);
    expect(result.stdout).toContain(`healthy: ${url} (${HEALTH})`);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('an extra URL answering 500 rolls the update back automatically, naming the plugin and the URL', async () => {
    const world = await worldWithUpdate({});
    const url = `${await appStatusServer(world, {status: 500, body: 'database unreachable'})}/status`;
    await world.writeConfig({plugins: {[HEALTH]: {urls: [url], waitSeconds: 0}}});
    const result = await parako(world, ['update', '--json'], {env: await linkExamples(world.root, 'health-http')});
    expectExit(result, 7);
    expect(jsonOf(result)).toMatchObject({code: 7, outcome: 'auto-rolled-back', from: '1.0.0', to: '1.1.0'});
    expect(String(jsonOf(result).message)).toContain(
      `health hook of ${HEALTH} failed: ${url} answered HTTP 500, expected 2xx (body: "database unreachable")`,
    );
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a wrong body rolls the update back, and the operator reads why on stderr', async () => {
    const world = await worldWithUpdate({});
    const url = `${await appStatusServer(world, {status: 200, body: '{"db":"down"}'})}/status`;
    await world.writeConfig({plugins: {[HEALTH]: {urls: [{url, bodyIncludes: '"db":"up"'}], waitSeconds: 0}}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'health-http')});
    expectExit(result, 7);
    expect(result.stderr).toContain(`health hook of ${HEALTH} failed: ${url} answered HTTP 200 but its body does not contain ""db":"up"" (body: "{"db":"down"}")`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });

  it('a mistake in its settings stops the update before the download, with nothing changed', async () => {
    const world = await worldWithUpdate({[HEALTH]: {urls: ['ftp://127.0.0.1/status']}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'health-http')});
    expectExit(result, 6);
    expect(result.stderr).toContain(`pre-download hook of ${HEALTH} failed: parako.json plugins["${HEALTH}"].urls[0]: "ftp://127.0.0.1/status" must be http:// or https://`);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });
});

describe('notify-webhook example plugin', () => {
  it('posts the outcome once, as Slack-compatible JSON', async () => {
    const hook = await webhook();
    const world = await worldWithUpdate({[WEBHOOK]: {url: hook.url}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'notify-webhook')});
    expectExit(result, 0);
    expect(hook.posts).toHaveLength(1);
    const [post] = hook.posts;
    expect(post!.contentType).toBe('application/json');
    expect(post!.json).toMatchObject({
      text: 'demo-app: updated v1.0.0 -> v1.1.0 (exit 0): updated v1.0.0 -> v1.1.0',
      app: 'demo-app',
      operation: 'update',
      outcome: 'updated',
      code: 0,
      from: '1.0.0',
      to: '1.1.0',
      migrationRan: false,
    });
  });

  it('reports an automatic rollback with the exit code parako exits with', async () => {
    const hook = await webhook();
    const world = await worldWithUpdate({});
    const status = `${await appStatusServer(world, {status: 503, body: 'starting'})}/status`;
    await world.writeConfig({plugins: {[HEALTH]: {urls: [status], waitSeconds: 0}, [WEBHOOK]: {url: '${TEST_WEBHOOK_URL}'}}});
    const env = {...(await linkExamples(world.root, 'health-http', 'notify-webhook')), TEST_WEBHOOK_URL: hook.url};
    const result = await parako(world, ['update'], {env});
    expectExit(result, 7);
    expect(hook.posts).toHaveLength(1);
    expect(hook.posts[0]!.json).toMatchObject({outcome: 'auto-rolled-back', code: 7, from: '1.0.0', to: '1.1.0'});
    expect(String(hook.posts[0]!.json.text)).toMatch(/^demo-app: auto-rolled-back v1\.0\.0 -> v1\.1\.0 \(exit 7\): v1\.1\.0 was unhealthy \(health hook of parako-plugin-health-http failed: /);
  });

  it('a webhook answering 500 is logged and does not change the exit code', async () => {
    const hook = await webhook(500);
    const world = await worldWithUpdate({[WEBHOOK]: {url: hook.url}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'notify-webhook')});
    expectExit(result, 0);
    expect(hook.posts).toHaveLength(1);
    expect(result.stderr).toContain(`notify hook of ${WEBHOOK} failed: POST ${new URL(hook.url).origin}/… answered HTTP 500: no_service`);
    expect(result.stderr).not.toContain('s3cr3t-token'); // the webhook URL is a secret
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });

  it('an unreachable webhook does not change the exit code', async () => {
    const url = await unreachableUrl();
    const world = await worldWithUpdate({[WEBHOOK]: {url}});
    const result = await parako(world, ['update'], {env: await linkExamples(world.root, 'notify-webhook')});
    expectExit(result, 0);
    expect(result.stderr).toContain(`notify hook of ${WEBHOOK} failed: POST ${new URL(url).origin}/… failed: connect ECONNREFUSED`);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
  });
});
