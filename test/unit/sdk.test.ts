/**
 * The SDK's helpers as a plugin calls them (src/sdk/): waiting until a service settles,
 * judging several items at once, and the text helpers that keep secrets out of messages.
 */
import {describe, expect, it} from 'vitest';

import {judgeEach, type Judgement, NotSettled, waitUntilSettled} from '../../src/sdk/settle.js';
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
