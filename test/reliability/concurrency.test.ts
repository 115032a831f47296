/**
 * Concurrency (architecture.md §2 `.parako/lock`, §8 exit 4, §3 "resolve — lock" first): ten
 * `parako update` started at once against one install dir. Exactly one takes the lock and
 * updates; the nine others exit 4 without touching the feed, naming the holder's pid; and the
 * install ends as one clean update would leave it.
 */
import {describe, expect, it} from 'vitest';

import type {ParakoProcess} from '../fixtures/cli.js';
import type {FeedServer} from '../fixtures/feed-server.js';
import {explain, expectExit, history, jsonOf, parako, spawnInWorld, useInstalledWorlds} from '../integration/helpers.js';
import {expectCurrentComplete, expectedRelease, expectNoLeftovers, useChildren} from './kill-helpers.js';

const worlds = useInstalledWorlds();
const track = useChildren();

const OLD = '1.0.0';
const NEW = '1.1.0';
const RUNS = 10;

describe('updates started at the same time', () => {
  it('ten at once: one updates, nine exit 4 naming its pid, and the install ends consistent', {timeout: 120_000}, async () => {
    const world = await worlds.installed();
    const published = await world.publish({version: NEW});
    // The artifact is held back until the nine others have finished: the holder keeps the lock
    // through the whole race however slowly this machine starts ten processes, where without it
    // a late starter could find the update done and exit 0 with "nothing to do".
    let letGo: () => void = () => undefined;
    world.feed.faults.holdUntil = {suffix: '.tar.gz', until: new Promise<void>((resolve) => (letGo = resolve))};
    const env = {PARAKO_HTTP_HEADERS_TIMEOUT_MS: '120000', PARAKO_HTTP_IDLE_TIMEOUT_MS: '120000'};

    const runs: ParakoProcess[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(track(spawnInWorld(world, ['update'], {env})));
    try {
      await allButOneSettled(runs, world.feed);
    } finally {
      letGo();
    }
    const results = await Promise.all(runs.map((run) => run.result));

    const winners = results.flatMap((result, i) => (result.code === 0 ? [i] : []));
    expect(winners, results.map(explain).join('\n\n')).toHaveLength(1);
    const holder = runs[winners[0]!]!;
    expect(results[winners[0]!]!.stdout).toContain(`updated v${OLD} -> v${NEW}`);
    for (const [i, result] of results.entries()) {
      if (i === winners[0]) continue;
      expectExit(result, 4);
      expect(result.stderr).toContain('another parako operation holds');
      expect(result.stderr).toMatch(new RegExp(`"update --version latest" pid ${holder.pid} on `));
    }
    // The lock comes before the feed is read: the nine never asked it anything.
    const asked = world.feed.requests.map((request) => request.path);
    expect(asked.filter((path) => path.endsWith('/index.json')), 'index requests').toHaveLength(1);
    expect(asked.filter((path) => path.endsWith('.tar.gz')), 'artifact requests').toHaveLength(1);

    await expectCurrentComplete(world, NEW, [expectedRelease(world.app, OLD), expectedRelease(world.app, NEW, published.manifest)]);
    await expectNoLeftovers(world);
    const lines = await history(world);
    expect(lines.filter((line) => line.outcome === 'updated' && line.to === NEW), 'updated lines').toHaveLength(1);
    expect(lines.filter((line) => line.outcome === 'interrupted'), 'nobody found an interrupted run').toEqual([]);
    const status = await parako(world, ['status', '--json']);
    expectExit(status, 0);
    expect(jsonOf(status)).toMatchObject({status: {current: NEW, inFlight: null, interrupted: null, last: {operation: 'update', outcome: 'updated', to: NEW}}});
  });
});

/**
 * Resolves once all runs but one have exited, which is when the lock holder may go on. Fails
 * early when a second run reaches the artifact (two runs got past the lock), and after a
 * deadline, so a broken lock fails the test instead of hanging it.
 */
function allButOneSettled(runs: ParakoProcess[], feed: FeedServer): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = 0;
    const finish = (error?: Error): void => {
      clearTimeout(deadline);
      clearInterval(watch);
      if (error === undefined) resolve();
      else reject(error);
    };
    const deadline = setTimeout(() => finish(new Error(`only ${settled} of ${runs.length} runs exited within 60 s while one held the lock`)), 60_000);
    const watch = setInterval(() => {
      const artifactRequests = feed.requests.filter((request) => request.path.endsWith('.tar.gz')).length;
      if (artifactRequests > 1) finish(new Error(`${artifactRequests} runs got past the lock to the download`));
    }, 50);
    for (const run of runs) {
      void run.result.then(() => {
        settled += 1;
        if (settled === runs.length - 1) finish();
      });
    }
  });
}
