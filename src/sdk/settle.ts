/**
 * Waiting until a restarted service has settled: up, and still the same processes after a
 * settle window. Supervisors report success as soon as they have started something (some right
 * after the fork, some even when the new code crashes at start), so a release that
 * crash-loops would otherwise look restarted and fine. Each supervisor plugin supplies how to
 * look at its service and how to judge one look; the loop, the window and the timeout are here,
 * and judgeEach, which makes one judgement of a service that is several units, apps or containers.
 */
import {setTimeout as sleep} from 'node:timers/promises';

import type {PluginLogger} from './contract.js';

/** One look at the service, judged. */
export type Judgement =
  /** Not up yet (starting, waiting for a health check); `what` says what it waits for. */
  | {kind: 'waiting'; what?: string}
  /** Up. `identity` names the processes (pids, start times): if it changes, something restarted. */
  | {kind: 'up'; identity: string}
  /** It will not come up (exited, errored, crash loop): stop waiting. */
  | {kind: 'failed'; why: string};

export interface SettleOptions<S> {
  /** Looks at the service (the supervisor's status command). */
  observe(): Promise<S>;
  judge(state: S, now: number): Judgement;
  /** How long it must stay up with the same identity. */
  settleMs: number;
  pollMs: number;
  /** The hook's signal: its timeout ends the wait. */
  signal: AbortSignal;
  log?: PluginLogger;
}

/** Why the service did not settle, with the last look at it (for the plugin's report). */
export class NotSettled<S> extends Error {
  constructor(
    readonly why: string,
    readonly state: S,
  ) {
    super(why);
    this.name = 'NotSettled';
  }
}

/**
 * Polls until the service has been up, with one identity, for `settleMs`; returns the last
 * look. Throws NotSettled when a look fails, when the identity changes within the window, or
 * when the service leaves "up" within it; the signal's reason when the hook runs out of time.
 */
export async function waitUntilSettled<S>(options: SettleOptions<S>): Promise<S> {
  let steady: {since: number; identity: string} | undefined;
  let logged: string | undefined;
  const seconds = options.settleMs / 1000;
  for (;;) {
    const state = await options.observe();
    const now = Date.now();
    const judgement = options.judge(state, now);
    if (judgement.kind === 'failed') throw new NotSettled(judgement.why, state);
    if (judgement.kind === 'up') {
      steady ??= {since: now, identity: judgement.identity};
      if (judgement.identity !== steady.identity) throw new NotSettled(`it restarted within ${seconds} s of coming up (crash loop?)`, state);
      if (now - steady.since >= options.settleMs) return state;
    } else if (steady !== undefined) {
      throw new NotSettled(`it left the running state within ${seconds} s of coming up${judgement.what === undefined ? '' : ` (now ${judgement.what})`} (crash loop?)`, state);
    } else if (judgement.what !== undefined && judgement.what !== logged) {
      // Into parako.log each time it changes: if the hook times out, this says what it waited for.
      options.log?.info({waitingFor: judgement.what}, 'waiting for the service to come up');
      logged = judgement.what;
    }
    await sleep(options.pollMs, undefined, {signal: options.signal}).catch((error: unknown) => {
      throw options.signal.aborted && options.signal.reason !== undefined ? options.signal.reason : error; // why it stopped, not "aborted"
    });
  }
}

/**
 * One judgement of a service made of several items (units, apps, containers), each judged on
 * its own and keyed by its name: the first failed item, its name in front of `why`; else the
 * first waiting one, its name in front of `what`; else up, with every item's identity (so a
 * restart of any one of them changes the whole).
 */
export function judgeEach(items: Map<string, Judgement>): Judgement {
  let waiting: Judgement | undefined;
  const identities: string[] = [];
  for (const [item, judgement] of items) {
    if (judgement.kind === 'failed') return {kind: 'failed', why: `${item}: ${judgement.why}`};
    if (judgement.kind === 'waiting') waiting ??= {kind: 'waiting', what: judgement.what === undefined ? item : `${item}: ${judgement.what}`};
    else identities.push(`${item} ${judgement.identity}`);
  }
  return waiting ?? {kind: 'up', identity: identities.join(', ')};
}
