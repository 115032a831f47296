/**
 * The notify hook called the way parako calls it, against webhook servers on 127.0.0.1: what
 * each format posts, that failures are retried within the hook's budget and then reported
 * without the URL's token, and that the settings are checked as parako checks them.
 */
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';

import {type HookContext, type Outcome, testContext, validateSettings} from 'parako';
import {afterEach, describe, expect, it} from 'vitest';

import notify from '../src/hooks/notify.js';
import {deliveryFor, describeTarget, type Notice, summaryOf} from '../src/message.js';
import {type NotifySettings, provider} from '../src/provides.js';

const KEY = 'plugins.@parako/plugin-notify-webhook';
const TOKEN = 'XyZzy0123456789secret';

const UPDATED: Outcome = {outcome: 'updated', code: 0, message: 'updated v1.0.0 -> v1.1.0', from: '1.0.0', to: '1.1.0', migrationRan: false, backup: null, records: {}, durationMs: 1234};

async function settings(section: Record<string, unknown>): Promise<NotifySettings> {
  const checked = await validateSettings(provider.settings!, section);
  expect(checked.problems).toEqual([]);
  return checked.value!;
}

async function problems(section: unknown): Promise<string[]> {
  return (await validateSettings(provider.settings!, section)).problems;
}

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

let servers: Server[] = [];
let scratch: string | undefined;
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (scratch !== undefined) await rm(scratch, {recursive: true, force: true});
  scratch = undefined;
});

/** A webhook on 127.0.0.1 answering each request with the next of `answers` (the last repeats); 'hang' never answers. */
async function webhook(...answers: Array<number | 'hang'>): Promise<{base: string; url: string; received: Received[]}> {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push({method: request.method, url: request.url, headers: request.headers, body});
      const answer = answers[Math.min(received.length - 1, answers.length - 1)]!;
      if (answer !== 'hang') response.writeHead(answer).end(answer === 200 ? 'ok' : `no_service ${TOKEN}`);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {base, url: `${base}/services/T0001/B0001/${TOKEN}`, received};
}

function notifyContext(section: NotifySettings, over: Partial<HookContext> = {}): ReturnType<typeof testContext> {
  return testContext('notify', {settings: section, outcome: UPDATED, ...over});
}

const everything = (test: ReturnType<typeof testContext>): string => JSON.stringify([test.said, test.logged]);

describe('what is posted', () => {
  const notice: Notice = {app: 'demo-app', host: 'web-1', operation: 'update', outcome: UPDATED};

  it('the summary names app, host, outcome, versions and exit code; a first install has no from', () => {
    expect(summaryOf(notice)).toBe('demo-app on web-1: updated v1.0.0 -> v1.1.0 (exit 0): updated v1.0.0 -> v1.1.0');
    expect(summaryOf({...notice, outcome: {...UPDATED, outcome: 'installed', from: null, message: 'installed v1.1.0'}})).toBe(
      'demo-app on web-1: installed (none) -> v1.1.0 (exit 0): installed v1.1.0',
    );
  });

  it('json posts the whole outcome with the summary as text', async () => {
    const delivery = deliveryFor(await settings({url: 'https://hooks.example.com/x'}), {url: 'https://hooks.example.com/x'}, notice, 'txn');
    expect(delivery).toMatchObject({method: 'POST', url: 'https://hooks.example.com/x', headers: {'content-type': 'application/json'}});
    expect(JSON.parse(delivery.body)).toEqual({text: summaryOf(notice), app: 'demo-app', host: 'web-1', operation: 'update', ...UPDATED});
  });

  it('slack posts only {text}, which Slack, Mattermost, Rocket.Chat and Matrix hookshot show', async () => {
    const delivery = deliveryFor(await settings({url: 'https://hooks.slack.com/services/T/B/x', format: 'slack'}), {url: 'https://hooks.slack.com/services/T/B/x'}, notice, 'txn');
    expect(JSON.parse(delivery.body)).toEqual({text: summaryOf(notice)});
  });

  it('matrix PUTs an m.text message into the room, with the access token as a bearer header and the txn id in the path', async () => {
    const section = await settings({url: 'https://matrix.example.org/', format: 'matrix', room: '!ops:example.org', accessToken: TOKEN});
    const delivery = deliveryFor(section, {url: 'https://matrix.example.org/', accessToken: TOKEN}, notice, 'parako-1');
    expect(delivery).toMatchObject({
      method: 'PUT',
      url: 'https://matrix.example.org/_matrix/client/v3/rooms/!ops%3Aexample.org/send/m.room.message/parako-1',
      headers: {authorization: `Bearer ${TOKEN}`},
    });
    expect(JSON.parse(delivery.body)).toEqual({msgtype: 'm.text', body: summaryOf(notice)});
  });

  it('a request is named by method and origin only: the path of a webhook is its token', () => {
    expect(describeTarget({method: 'POST', url: `https://user:pw@hooks.slack.com/services/T/B/${TOKEN}?x=1`})).toBe('POST https://hooks.slack.com/…');
  });
});

describe('settings', () => {
  it('a URL alone is enough; format, timeout and retries have defaults', async () => {
    expect(await settings({url: 'https://hooks.example.com/x'})).toEqual({url: 'https://hooks.example.com/x', format: 'json', timeoutSeconds: 5, retries: 2});
  });

  it('the URL comes from url or urlFile, not both and not neither; a bad one is refused without repeating it', async () => {
    expect(await problems({})).toEqual([`${KEY}.url: give either url (or "\${VARIABLE}") or urlFile`]);
    expect(await problems({url: 'https://a.example/x', urlFile: '/etc/parako/webhook'})).toEqual([`${KEY}.url: give either url (or "\${VARIABLE}") or urlFile`]);
    const refused = await problems({url: `ftp://hooks.example.com/${TOKEN}`});
    expect(refused).toEqual([`${KEY}.url: must be an http:// or https:// URL`]);
    expect(await problems({urlFile: 'webhook-url'})).toEqual([`${KEY}.urlFile: must be an absolute path`]);
  });

  it('matrix needs a room id and one access token; the matrix keys are refused with another format', async () => {
    expect(await problems({url: 'https://matrix.example.org', format: 'matrix'})).toEqual([
      `${KEY}.room: is required with format "matrix": the room id, !…:server`,
      `${KEY}.accessToken: give either accessToken (or "\${VARIABLE}") or accessTokenFile with format "matrix"`,
    ]);
    expect(await problems({url: 'https://matrix.example.org', format: 'matrix', room: '#ops:example.org', accessTokenFile: '/etc/parako/matrix-token'})).toEqual([
      `${KEY}.room: must be a Matrix room id, !…:server (Element: Room settings › Advanced)`,
    ]);
    expect(await problems({url: 'https://hooks.example.com/x', room: '!ops:example.org'})).toEqual([`${KEY}.room: is for format "matrix" only (format is "json")`]);
  });

  it('typos and unknown outcomes are named', async () => {
    expect(await problems({url: 'https://hooks.example.com/x', retires: 3})).toEqual([`${KEY}: unknown key "retires"`]);
    expect((await problems({url: 'https://hooks.example.com/x', on: ['rolled-back', 'rollback']}))[0]).toMatch(/^plugins\.@parako\/plugin-notify-webhook\.on\.1: Invalid option/);
    expect((await problems({url: 'https://hooks.example.com/x', retries: 9}))[0]).toMatch(/^plugins\.@parako\/plugin-notify-webhook\.retries: Too big/);
  });
});

describe('the notify hook', () => {
  it('posts the outcome once and logs it, with the URL masked', async () => {
    const hook = await webhook(200);
    const test = notifyContext(await settings({url: hook.url}));
    await notify({ctx: test.ctx});
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]).toMatchObject({method: 'POST', url: `/services/T0001/B0001/${TOKEN}`, headers: {'content-type': 'application/json'}});
    expect(JSON.parse(hook.received[0]!.body)).toMatchObject({outcome: 'updated', code: 0, from: '1.0.0', to: '1.1.0', app: 'demo-app', operation: 'update'});
    expect(test.logged).toContainEqual(expect.objectContaining({level: 'info', message: 'outcome posted', fields: expect.objectContaining({to: `POST ${hook.base}/…`, status: 200, attempt: 1})}));
    expect(everything(test)).not.toContain(TOKEN);
  });

  it('a 500 is retried, and the second attempt posts', async () => {
    const hook = await webhook(500, 200);
    const test = notifyContext(await settings({url: hook.url, retries: 2}));
    await notify({ctx: test.ctx});
    expect(hook.received).toHaveLength(2);
    expect(hook.received[1]!.body).toBe(hook.received[0]!.body);
    expect(test.logged.map((line) => line.message)).toEqual(['post failed, may retry', 'outcome posted']);
    expect(everything(test)).not.toContain(TOKEN);
  });

  it('a webhook that keeps failing is given up after the retries, naming each failure but not the token', async () => {
    const hook = await webhook(503);
    const test = notifyContext(await settings({url: hook.url, retries: 1}));
    const error = await notify({ctx: test.ctx}).then(() => undefined, (thrown: unknown) => thrown as Error);
    expect(error?.message).toBe(`POST ${hook.base}/… failed: HTTP 503 (no_service ****); HTTP 503 (no_service ****) (2 attempts, gave up)`);
    expect(hook.received).toHaveLength(2);
  });

  it('a 4xx is not retried: the request itself is wrong', async () => {
    const hook = await webhook(404, 200);
    const test = notifyContext(await settings({url: hook.url}));
    await expect(notify({ctx: test.ctx})).rejects.toThrow(`POST ${hook.base}/… failed: HTTP 404 (no_service ****)`);
    expect(hook.received).toHaveLength(1);
  });

  it('a webhook that hangs is abandoned after each attempt\'s timeout, well inside the hook\'s', async () => {
    const hook = await webhook('hang');
    const test = notifyContext(await settings({url: hook.url, timeoutSeconds: 0.3, retries: 1}));
    const started = Date.now();
    await expect(notify({ctx: test.ctx})).rejects.toThrow(`POST ${hook.base}/… failed: no answer within 0.3 s; no answer within 0.3 s (2 attempts, gave up)`);
    // Two attempts of 0.3 s and a pause of 0.5 s between them.
    expect(Date.now() - started).toBeLessThan(2500);
    expect(hook.received).toHaveLength(2);
  });

  it('retries stop in time to report before the hook\'s own timeout (hooks.timeoutSeconds.notify)', async () => {
    const hook = await webhook('hang');
    const test = notifyContext(await settings({url: hook.url, timeoutSeconds: 5, retries: 5}), {config: {app: 'demo-app', keepReleases: 3, hooks: {timeoutSeconds: {notify: 2}}}});
    const started = Date.now();
    // A 2 s notify timeout keeps a quarter of it to report: one attempt of 1.5 s, no room for a second.
    await expect(notify({ctx: test.ctx})).rejects.toThrow(/failed: no answer within 1.5 s; no time left for another attempt within the notify hook's timeout$/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('the hook\'s signal (its timeout) stops a hanging request at once', async () => {
    const hook = await webhook('hang');
    const controller = new AbortController();
    const test = notifyContext(await settings({url: hook.url, timeoutSeconds: 10}), {signal: controller.signal});
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('notify hook of @parako/plugin-notify-webhook did not finish within 30 s and was stopped')), 200);
    await expect(notify({ctx: test.ctx})).rejects.toThrow('did not finish within 30 s');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('an unreachable webhook is retried and reported with the network error', async () => {
    const hook = await webhook(200);
    const url = hook.url;
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    const test = notifyContext(await settings({url, retries: 1}));
    await expect(notify({ctx: test.ctx})).rejects.toThrow(/failed: connect ECONNREFUSED 127\.0\.0\.1:\d+; connect ECONNREFUSED 127\.0\.0\.1:\d+ \(2 attempts, gave up\)$/);
  });

  it('`on` limits what is posted', async () => {
    const hook = await webhook(200);
    const test = notifyContext(await settings({url: hook.url, on: ['failed', 'auto-rolled-back']}));
    await notify({ctx: test.ctx});
    expect(hook.received).toHaveLength(0);
    expect(test.logged).toContainEqual(expect.objectContaining({message: 'not posted: plugins.@parako/plugin-notify-webhook.on does not list updated'}));
    await notify({ctx: notifyContext(await settings({url: hook.url, on: ['auto-rolled-back']}), {outcome: {...UPDATED, outcome: 'auto-rolled-back', code: 7}}).ctx});
    expect(hook.received).toHaveLength(1);
  });

  it('the URL may come from a file only its owner can read; a readable one is refused', async () => {
    const hook = await webhook(200);
    scratch = await mkdtemp(join(tmpdir(), 'notify-webhook-'));
    const file = join(scratch, 'webhook-url');
    await writeFile(file, `${hook.url}\n`, {mode: 0o600});
    await notify({ctx: notifyContext(await settings({urlFile: file, format: 'slack'})).ctx});
    expect(hook.received.map((request) => JSON.parse(request.body) as unknown)).toEqual([{text: summaryOf({app: 'demo-app', host: hostname(), operation: 'update', outcome: UPDATED})}]);
    await chmod(file, 0o644);
    await expect(notify({ctx: notifyContext(await settings({urlFile: file})).ctx})).rejects.toThrow(`urlFile ${file} can be read by other users (mode 0644): chmod 600 ${file}`);
    await writeFile(file, 'hooks.example.com/x\n', {mode: 0o600});
    await chmod(file, 0o600);
    await expect(notify({ctx: notifyContext(await settings({urlFile: file})).ctx})).rejects.toThrow(`urlFile ${file}: its first line is not an http:// or https:// URL`);
    expect(hook.received).toHaveLength(1);
  });

  it('matrix: the token from its file reaches the header and no message', async () => {
    const hook = await webhook(401);
    scratch = await mkdtemp(join(tmpdir(), 'notify-webhook-'));
    const file = join(scratch, 'matrix-token');
    await writeFile(file, `${TOKEN}\n`, {mode: 0o600});
    const test = notifyContext(await settings({url: hook.base, format: 'matrix', room: '!ops:example.org', accessTokenFile: file}));
    const error = await notify({ctx: test.ctx}).then(() => undefined, (thrown: unknown) => thrown as Error);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]).toMatchObject({method: 'PUT', headers: {authorization: `Bearer ${TOKEN}`}});
    expect(hook.received[0]!.url).toMatch(/^\/_matrix\/client\/v3\/rooms\/!ops%3Aexample\.org\/send\/m\.room\.message\/parako-[0-9a-f-]{36}$/);
    expect(error?.message).toBe(`PUT ${hook.base}/… failed: HTTP 401 (no_service ****)`);
    expect(everything(test)).not.toContain(TOKEN);
  });
});
