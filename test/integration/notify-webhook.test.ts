/**
 * @parako/plugin-notify-webhook in a real `parako update`, against webhooks on 127.0.0.1: the
 * outcome is posted once, a failing webhook is retried, a hanging one is abandoned in bounded
 * time, and none of it changes the exit code or where `current` points. The webhook URL's
 * token never reaches stdout, stderr or parako.log.
 */
import {readFile} from 'node:fs/promises';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';

import {afterEach, describe, expect, it} from 'vitest';

import type {CliResult} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const PLUGIN = '@parako/plugin-notify-webhook';
const TOKEN = 'Zq7Xw2Lk9sEcReTtOkEn';

const worlds = useInstalledWorlds();
let servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Webhook {
  base: string;
  /** A Slack-like URL whose last part is the secret. */
  url: string;
  posts: Array<Record<string, unknown>>;
  /** Requests that arrived, answered or not. */
  requests: number;
}

/** A webhook answering the n-th request with answers[n] (the last repeats); 'hang' accepts and never answers. */
async function webhook(...answers: Array<number | 'hang'>): Promise<Webhook> {
  const hook: Webhook = {base: '', url: '', posts: [], requests: 0};
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const answer = answers[Math.min(hook.requests, answers.length - 1)]!;
      hook.requests += 1;
      if (answer === 'hang') return;
      if (answer === 200) hook.posts.push(JSON.parse(body) as Record<string, unknown>);
      response.writeHead(answer).end(answer === 200 ? 'ok' : 'busy');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hook.url = `${hook.base}/services/T0001/B0001/${TOKEN}`;
  return hook;
}

/** v1.0.0 installed, v1.1.0 in the feed, this plugin's section in parako.json. */
async function worldWith(section: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<SignedWorld> {
  const world = await worlds.installed({...config, plugins: {[PLUGIN]: section}});
  await world.publish({version: '1.1.0'});
  return world;
}

/** Nothing the operator or the log reads holds the webhook's token. */
async function expectNoToken(world: SignedWorld, result: CliResult): Promise<void> {
  const log = await readFile(join(world.dir, '.parako', 'parako.log'), 'utf8');
  for (const [where, text] of [['stdout', result.stdout], ['stderr', result.stderr], ['parako.log', log]] as const) {
    expect(text, where).not.toContain(TOKEN);
  }
}

/** The one line parako logs when the notify hook failed. */
function notifyFailure(result: CliResult): {err: string; msg: string} | undefined {
  const line = result.stderr.split('\n').find((candidate) => candidate.includes('"notify hook failed; the outcome stands"'));
  return line === undefined ? undefined : (JSON.parse(line) as {err: string; msg: string});
}

describe('notify-webhook plugin', () => {
  it('a successful update posts the outcome as JSON once, and parako hooks says why it acts', async () => {
    const hook = await webhook(200);
    const world = await worldWith({url: hook.url});
    const hooks = jsonOf(await parako(world, ['hooks', '--json'])) as {plugins: Array<{plugin: string; verdict: string}>};
    expect(hooks.plugins.find((entry) => entry.plugin === PLUGIN)?.verdict).toBe(`acts: plugins.${PLUGIN} is set in parako.json`);

    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(hook.posts).toHaveLength(1);
    expect(hook.posts[0]).toMatchObject({outcome: 'updated', code: 0, from: '1.0.0', to: '1.1.0', app: 'demo-app', operation: 'update', migrationRan: false});
    expect(String(hook.posts[0]!.text)).toMatch(/^demo-app on .+: updated v1\.0\.0 -> v1\.1\.0 \(exit 0\): /);
    expect(notifyFailure(result)).toBeUndefined();
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    await expectNoToken(world, result);
  });

  it('a webhook that answers 500 and then 200 is retried, and the outcome is posted', async () => {
    const hook = await webhook(500, 200);
    const world = await worldWith({url: hook.url, format: 'slack'});
    const result = await parako(world, ['update']);
    expectExit(result, 0);
    expect(hook.requests).toBe(2);
    expect(hook.posts).toEqual([{text: expect.stringMatching(/: updated v1\.0\.0 -> v1\.1\.0 \(exit 0\)/) as unknown}]);
    expect(notifyFailure(result)).toBeUndefined();
    await expectNoToken(world, result);
  });

  it('a webhook that hangs is abandoned after its timeouts: exit 0, current on v1.1.0, one error line without the token', async () => {
    const hook = await webhook('hang');
    const world = await worldWith({url: hook.url, timeoutSeconds: 1, retries: 1});
    const started = Date.now();
    const result = await parako(world, ['update', '--json']);
    const tookMs = Date.now() - started;
    expectExit(result, 0);
    expect(jsonOf(result)).toMatchObject({code: 0, outcome: 'updated', to: '1.1.0'});
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    expect(hook.requests).toBe(2);
    expect(notifyFailure(result)?.err).toBe(`notify hook of ${PLUGIN} failed: POST ${hook.base}/… failed: no answer within 1 s; no answer within 1 s (2 attempts, gave up)`);
    // Two attempts of 1 s and a pause of 0.5 s, not the notify hook's 30 s.
    expect(tookMs).toBeLessThan(15_000);
    console.info(`hang, 2 attempts of 1 s: parako update took ${tookMs} ms`);
    const history = (await readFile(join(world.dir, '.parako', 'history.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(history.at(-1)!)).toMatchObject({outcome: 'updated', to: '1.1.0'});
    await expectNoToken(world, result);
  });

  it('a hanging webhook never outlives hooks.timeoutSeconds.notify: the plugin reports before the runner stops it', async () => {
    const hook = await webhook('hang');
    const world = await worldWith({url: hook.url, timeoutSeconds: 10, retries: 5}, {hooks: {timeoutSeconds: {notify: 5}}});
    const started = Date.now();
    const result = await parako(world, ['update']);
    const tookMs = Date.now() - started;
    expectExit(result, 0);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    // One attempt cut to the 4 s left of the 5 s notify timeout (1 s kept to report), then no room for another.
    expect(notifyFailure(result)?.err).toBe(
      `notify hook of ${PLUGIN} failed: POST ${hook.base}/… failed: no answer within 4 s; no time left for another attempt within the notify hook's timeout`,
    );
    expect(tookMs).toBeLessThan(15_000);
    console.info(`hang, notify timeout 5 s: parako update took ${tookMs} ms`);
    await expectNoToken(world, result);
  });

  it('an unhealthy update that rolls back (exit 7) posts auto-rolled-back, the URL taken from the environment', async () => {
    const hook = await webhook(200);
    const health = createServer((_request, response) => {
      void readFile(join(world.dir, 'current', 'VERSION'), 'utf8').then((version) => response.writeHead(version.trim() === '1.1.0' ? 500 : 200).end());
    });
    servers.push(health);
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    const healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}/health`;
    const world = await worldWith({url: '${TEST_NOTIFY_URL}'}, {health: {url: healthUrl, timeoutSeconds: 1}});
    const result = await parako(world, ['update'], {env: {TEST_NOTIFY_URL: hook.url}});
    expectExit(result, 7);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(hook.posts).toHaveLength(1);
    expect(hook.posts[0]).toMatchObject({outcome: 'auto-rolled-back', code: 7, from: '1.0.0', to: '1.1.0'});
    expect(String(hook.posts[0]!.text)).toMatch(/: auto-rolled-back v1\.0\.0 -> v1\.1\.0 \(exit 7\): v1\.1\.0 was unhealthy/);
    await expectNoToken(world, result);
  });

  it('a wrong section stops the update before anything is fetched (exit 2), without printing the URL', async () => {
    const world = await worldWith({url: `ftp://hooks.example.com/${TOKEN}`, retires: 3});
    const result = await parako(world, ['update']);
    expectExit(result, 2);
    expect(result.stderr).toContain(`plugins.${PLUGIN}.url: must be an http:// or https:// URL`);
    expect(result.stderr).toContain(`plugins.${PLUGIN}: unknown key "retires"`);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
  });
});
