/**
 * The SDK's helpers as a plugin calls them (src/sdk/): waiting until a service settles,
 * judging several items at once and naming the one at fault, a provider's typed settings, and
 * the text helpers that keep secrets out of messages, and what a plugin's own tests use
 * (testContext, validateSettings).
 */
import {createServer, type Server} from 'node:http';
import {createServer as createTcpServer} from 'node:net';
import type {AddressInfo} from 'node:net';

import {describe, expect, it} from 'vitest';
import {z} from 'zod';

import type {HookContext} from '../../src/sdk/contract.js';
import {defineProvider, validateSettings} from '../../src/sdk/provider.js';
import {acceptTargetOf, NotAccepting, waitUntilAccepting} from '../../src/sdk/accepting.js';
import {judgeEach, type Judgement, NotSettled, settleService, waitUntilEachSettled, waitUntilSettled} from '../../src/sdk/settle.js';
import {testContext} from '../../src/sdk/testing.js';
import {maskUrl, outputTail, redact, shellQuote} from '../../src/sdk/text.js';

/** A service whose looks are scripted: one judgement per poll, the last one repeated. */
function scripted(looks: Judgement[]): {observe(): Promise<number>; judge(state: number): Judgement} {
  let poll = 0;
  return {observe: async () => poll++, judge: (state) => looks[Math.min(state, looks.length - 1)]!};
}

const fast = {settleMs: 30, pollMs: 5, signal: new AbortController().signal};

describe('waitUntilSettled', () => {
  it('returns once the service has been up with one identity for the settle window', async () => {
    const service = scripted([{kind: 'waiting'}, {kind: 'up', identity: 'pid 7'}]);
    expect(await waitUntilSettled({...service, ...fast})).toBeGreaterThan(1);
  });

  it('fails when the identity changes within the window (a crash loop), or the service drops out of it', async () => {
    const loop = scripted([{kind: 'up', identity: 'pid 7'}, {kind: 'up', identity: 'pid 8'}]);
    await expect(waitUntilSettled({...loop, ...fast})).rejects.toThrow(new NotSettled('it restarted within 0.03 s of coming up (crash loop?)', 1));
    const dropped = scripted([{kind: 'up', identity: 'pid 7'}, {kind: 'waiting', what: 'activating'}]);
    await expect(waitUntilSettled({...dropped, ...fast})).rejects.toThrow('it left the running state within 0.03 s of coming up (now activating) (crash loop?)');
    const failed = scripted([{kind: 'failed', why: 'exited with code 1'}]);
    await expect(waitUntilSettled({...failed, ...fast})).rejects.toThrow('exited with code 1');
  });

  it('ends with the hook\'s signal', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out')), 20);
    await expect(waitUntilSettled({...scripted([{kind: 'waiting'}]), settleMs: 30, pollMs: 5, signal: controller.signal})).rejects.toThrow('timed out');
  });
});

describe('judgeEach', () => {
  it('names the first failed item, else the first waiting one, else joins the identities', () => {
    const up = (identity: string): Judgement => ({kind: 'up', identity});
    expect(judgeEach(new Map([['web', up('1')], ['worker', {kind: 'failed', why: 'exited'}]]))).toEqual({kind: 'failed', why: 'worker: exited'});
    expect(judgeEach(new Map([['web', {kind: 'waiting', what: 'starting'}], ['worker', up('2')]]))).toEqual({kind: 'waiting', what: 'web: starting'});
    expect(judgeEach(new Map([['web', up('1')], ['worker', up('2')]]))).toEqual({kind: 'up', identity: 'web 1, worker 2'});
  });
});

describe('waitUntilEachSettled', () => {
  const up = (identity: string): Judgement => ({kind: 'up', identity});
  /** A service of items whose looks are scripted: one Map of judgements per poll, the last one repeated. */
  function items(looks: Array<Record<string, Judgement>>): {observe(): Promise<number>; judgeItems(state: number): Map<string, Judgement>} {
    let poll = 0;
    return {observe: async () => poll++, judgeItems: (state) => new Map(Object.entries(looks[Math.min(state, looks.length - 1)]!))};
  }
  async function notSettled(promise: Promise<unknown>): Promise<NotSettled<number>> {
    const error = await promise.then(() => undefined, (error: unknown) => error);
    expect(error).toBeInstanceOf(NotSettled);
    return error as NotSettled<number>;
  }

  it('returns the last look once every item has been up for the window, waiting for those that start', async () => {
    const service = items([{web: {kind: 'waiting', what: 'starting'}, worker: up('pid 2')}, {web: up('pid 1'), worker: up('pid 2')}]);
    expect(await waitUntilEachSettled({...service, ...fast})).toBeGreaterThan(1);
  });

  it('blames the item judged failed in the last look, with its own reason', async () => {
    const service = items([{web: up('pid 1'), worker: up('pid 2')}, {web: up('pid 1'), worker: {kind: 'failed', why: 'exited with code 1'}}]);
    const failure = await notSettled(waitUntilEachSettled({...service, ...fast, settleMs: 1000}));
    expect(failure).toMatchObject({culprit: 'worker', failed: true, why: 'exited with code 1', state: 1, message: 'worker: exited with code 1'});
  });

  it('blames the item that restarted within the window, not the first one nor the steady ones', async () => {
    const service = items([{web: up('pid 1'), worker: up('pid 2'), jobs: up('pid 3')}, {web: up('pid 1'), worker: up('pid 2'), jobs: up('pid 4')}]);
    const failure = await notSettled(waitUntilEachSettled({...service, ...fast}));
    expect(failure).toMatchObject({culprit: 'jobs', failed: false, why: 'it restarted within 0.03 s of coming up (crash loop?)', state: 1});
    const dropped = items([{web: up('pid 1'), worker: up('pid 2')}, {web: up('pid 1'), worker: {kind: 'waiting', what: 'activating'}}]);
    expect(await notSettled(waitUntilEachSettled({...dropped, ...fast}))).toMatchObject({
      culprit: 'worker',
      failed: false,
      why: 'it left the running state within 0.03 s of coming up (now worker: activating) (crash loop?)',
    });
  });

  it('ends with the hook\'s signal, not a culprit', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('timed out')), 20);
    await expect(waitUntilEachSettled({...items([{web: {kind: 'waiting'}}]), settleMs: 30, pollMs: 5, signal: controller.signal})).rejects.toThrow('timed out');
  });
});

describe('settleService', () => {
  const items = (looks: Array<Record<string, Judgement>>) => {
    let poll = 0;
    return {observe: async () => looks[Math.min(poll++, looks.length - 1)]!, judgeItems: (look: Record<string, Judgement>) => new Map(Object.entries(look))};
  };

  it('returns the last look once every item settled, logging to the hook what it waits for', async () => {
    const {ctx, logged} = testContext('restart');
    const service = items([{web: {kind: 'waiting', what: 'starting'}}, {web: {kind: 'up', identity: 'pid 7'}}]);
    expect(await settleService(ctx, {...service, settleMs: 20, pollMs: 5, explain: () => new Error('not called')})).toEqual({web: {kind: 'up', identity: 'pid 7'}});
    expect(logged).toContainEqual({level: 'info', fields: {waitingFor: 'web: starting'}, message: 'waiting for the service to come up'});
  });

  it("throws the plugin's explanation of the culprit, with the last look, instead of the bare NotSettled", async () => {
    const {ctx} = testContext('restart');
    const service = items([{web: {kind: 'up', identity: 'pid 7'}, worker: {kind: 'up', identity: 'pid 8'}}, {web: {kind: 'up', identity: 'pid 7'}, worker: {kind: 'failed', why: 'exited 1'}}]);
    const explain = async (failure: NotSettled<Record<string, Judgement>> & {culprit: string; failed: boolean}) =>
      new Error(`${failure.culprit} (${failure.failed ? 'failed' : 'restarted'}): ${failure.why}; looked ${Object.keys(failure.state).length} items`);
    await expect(settleService(ctx, {...service, settleMs: 50, pollMs: 5, explain})).rejects.toThrow('worker (failed): exited 1; looked 2 items');
  });

  it("ends with the hook's own timeout: the signal's reason, not an explanation", async () => {
    const timeout = new AbortController();
    const {ctx} = testContext('restart', {signal: timeout.signal});
    setTimeout(() => timeout.abort(new Error('restart hook timed out after 0.03 s')), 30);
    const service = items([{web: {kind: 'waiting'}}]);
    await expect(settleService(ctx, {...service, settleMs: 20, pollMs: 5, explain: () => new Error('not this')})).rejects.toThrow('restart hook timed out after 0.03 s');
  });
});

/** An HTTP server on a free 127.0.0.1 port answering `status`; closed by the caller. */
async function httpServer(status: number): Promise<{server: Server; url: string}> {
  const server = createServer((_req, res) => res.writeHead(status).end('x'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`};
}

/** A port nothing listens on right now. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('waitUntilAccepting', () => {
  const signal = new AbortController().signal;

  it('reads the address from health.url: default ports, IPv6 brackets, no credentials', () => {
    expect(acceptTargetOf('http://user:secret@localhost/health?deep=1')).toEqual({protocol: 'http:', host: 'localhost', port: 80, path: '/health?deep=1'});
    expect(acceptTargetOf('https://[::1]:8443/')).toEqual({protocol: 'https:', host: '::1', port: 8443, path: '/'});
    expect(acceptTargetOf('ftp://x/')).toBeUndefined();
  });

  it('is done at the first HTTP answer, whatever its status (health is judged after)', async () => {
    const {server, url} = await httpServer(503);
    try {
      expect(await waitUntilAccepting(acceptTargetOf(url)!, {timeoutMs: 2000, signal})).toMatchObject({attempts: 1});
    } finally {
      server.close();
    }
  });

  it('waits while the port refuses, and is done once the service listens on it', async () => {
    const port = await closedPort();
    const server = createServer((_req, res) => res.end('ok'));
    setTimeout(() => server.listen(port, '127.0.0.1'), 300);
    try {
      const accepted = await waitUntilAccepting(acceptTargetOf(`http://127.0.0.1:${port}/health`)!, {timeoutMs: 5000, pollMs: 20, signal});
      expect(accepted.attempts).toBeGreaterThan(1);
      expect(accepted.waitedMs).toBeGreaterThanOrEqual(250);
    } finally {
      server.close();
    }
  });

  it('gives up after its timeout, saying where and what the last attempt got', async () => {
    const port = await closedPort();
    const failure = await waitUntilAccepting(acceptTargetOf(`http://127.0.0.1:${port}/`)!, {timeoutMs: 200, pollMs: 20, signal}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(NotAccepting);
    expect((failure as Error).message).toMatch(new RegExp(`^it accepts no connections on 127\\.0\\.0\\.1:${port} after 0\\.[1-3] s \\(last attempt: connection refused\\)$`));
  });

  it('does not take a connection that is accepted and dropped (a proxy with nothing behind it) for an answer', async () => {
    const proxy = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const target = acceptTargetOf(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`)!;
      await expect(waitUntilAccepting(target, {timeoutMs: 200, pollMs: 20, signal})).rejects.toThrow(/accepts no connections .*\(last attempt: (connection reset|socket hang up)\)/);
    } finally {
      proxy.close();
    }
  });
});

describe('settleService waits for health.url to accept connections', () => {
  const settled = {observe: async () => 1, judgeItems: () => new Map([['web', {kind: 'up', identity: 'pid 7'} as Judgement]]), settleMs: 10, pollMs: 5, explain: () => new Error('not called')};

  it('returns once the settled service answers, and logs how long that took', async () => {
    const {server, url} = await httpServer(200);
    try {
      const {ctx, logged} = testContext('restart', {config: {app: 'demo-app', keepReleases: 3, health: {url, timeoutSeconds: 2}}});
      await settleService(ctx, settled);
      expect(logged.find((line) => line.message === 'the service accepts connections')?.fields).toMatchObject({address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), attempts: 1});
    } finally {
      server.close();
    }
  });

  it('fails the restart with what to do when nothing accepts within health.timeoutSeconds; accepting: false skips the wait', async () => {
    const port = await closedPort();
    const {ctx} = testContext('restart', {config: {app: 'demo-app', keepReleases: 3, health: {url: `http://127.0.0.1:${port}/health`, timeoutSeconds: 0.3}}});
    const failure = await settleService(ctx, settled).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: 'PluginError',
      message: expect.stringMatching(new RegExp(`^the service is up but it accepts no connections on 127\\.0\\.0\\.1:${port} after 0\\.\\d s \\(last attempt: connection refused\\)$`)),
      next: `make the app listen on 127.0.0.1:${port}, or correct health.url in parako.json to the address it listens on`,
    });
    expect(await settleService(ctx, {...settled, accepting: false})).toBe(1);
  });
});

describe('testContext', () => {
  it('is an update of demo-app from v1.0.0 to v1.1.0 whose exec succeeds quietly, with any field replaced', async () => {
    const {ctx} = testContext('pre-swap', {dryRun: true});
    expect(ctx).toMatchObject({point: 'pre-swap', operation: 'update', dryRun: true, app: 'demo-app', dir: '/opt/demo-app', from: {version: '1.0.0'}, to: {version: '1.1.0'}});
    expect(await ctx.exec('anything', [])).toEqual({code: 0, stdout: '', stderr: ''});
    expect(ctx.supervisor).toBeUndefined();
  });

  it('collects what the hook says, logs (child loggers too) and records', () => {
    const {ctx, said, logged, recorded} = testContext('notify');
    ctx.say('hello');
    ctx.log.child({step: 2}).warn({disk: 'full'}, 'careful');
    ctx.log.info('plain');
    ctx.record('backup', {path: '/b'});
    expect(said).toEqual(['hello']);
    expect(logged).toEqual([{level: 'warn', fields: {step: 2, disk: 'full'}, message: 'careful'}, {level: 'info', fields: {}, message: 'plain'}]);
    expect(recorded).toEqual({backup: {path: '/b'}});
  });

  it('has a backup folder that refuses to write unless the test passes its own', async () => {
    const {ctx} = testContext('pre-swap');
    expect(ctx.backups.pathFor('sql', '<UTC time>')).toBe('/opt/demo-app/backups/demo-app-pre-v1.1.0-<UTC time>.sql');
    await expect(ctx.backups.prepare('sql')).rejects.toThrow('testContext has no backup folder: pass {backups}');
  });
});

describe('validateSettings', () => {
  const declared = {key: 'backup', schema: z.strictObject({type: z.literal('mydb'), database: z.string().min(1)})};

  it('gives the value when the section is valid', async () => {
    expect(await validateSettings(declared, {type: 'mydb', database: 'shop'})).toEqual({value: {type: 'mydb', database: 'shop'}, problems: []});
  });

  it("words each problem as the operator reads it: the key at fault first, an unknown key as such", async () => {
    const {value, problems} = await validateSettings(declared, {type: 'mydb', database: '', pasword: 'x'});
    expect(value).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^backup\.database: /), 'backup: unknown key "pasword"']);
  });
});

describe('defineProvider', () => {
  const provider = defineProvider<{type: 'runit'; services: string[]}>({settings: {key: 'supervisor', schema: {'~standard': {version: 1, vendor: 'test', validate: (value) => ({value: value as {type: 'runit'; services: string[]}})}}}});
  const context = (settings: unknown): HookContext => ({settings}) as HookContext;

  it('gives the hooks their validated section, typed', () => {
    expect(provider.settingsOf(context({type: 'runit', services: ['web']})).services).toEqual(['web']);
  });

  it('names the section when parako handed the plugin none', () => {
    expect(() => provider.settingsOf(context(undefined))).toThrow(/^parako handed this plugin no supervisor settings \(ctx\.settings\)/);
  });
});

describe('text helpers', () => {
  it('quote for a shell only what needs it', () => {
    expect(shellQuote('/srv/app/backup.db')).toBe('/srv/app/backup.db');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
  });

  it('keep passwords out: in URLs, raw or percent-encoded, and in a tool\'s last lines', () => {
    expect(maskUrl('postgresql://app:s3cret@db/shop?password=x')).toBe('postgresql://app:****@db/shop?password=****');
    expect(redact('login as app with p@ss:w failed (p%40ss%3Aw)', ['p%40ss%3Aw'])).toBe('login as app with **** failed (****)');
    expect(redact('mysql://root:hunter22@db refused', [])).toBe('mysql://root:****@db refused');
    expect(outputTail('line 1\nline 2\nsecret hunter22', ['hunter22'], 2)).toBe(':\n  line 2\n  secret ****');
  });
});
