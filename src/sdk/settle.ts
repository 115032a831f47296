/**
 * Waiting until a restarted service has settled: up, and still the same processes after a
 * settle window. Supervisors report success as soon as they have started something (some right
 * after the fork, some even when the new code crashes at start), so a release that
 * crash-loops would otherwise look restarted and fine. Each supervisor plugin supplies how to
 * look at its service and how to judge one look; the loop, the window and the timeout are here,
 * and judgeEach, which makes one judgement of a service that is several units, apps or containers.
 * waitUntilEachSettled is the two together, and names the one item to blame when it fails.
 */
import {setTimeout as sleep} from 'node:timers/promises';
import {isDeepStrictEqual} from 'node:util';

import {acceptTargetOf, describeTarget, NotAccepting, waitUntilAccepting} from './accepting.js';
import type {HostSettings, PluginLogger} from './contract.js';
import {PluginError} from './errors.js';

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
export class NotSettled<S = unknown> extends Error {
  constructor(
    /** Why it did not settle. From waitUntilEachSettled, about the culprit: its own reason when judged failed, else what the settle window caught. */
    readonly why: string,
    readonly state: S,
    /** From waitUntilEachSettled: the item to blame, as judgeItems names it. */
    readonly culprit?: string,
    /** From waitUntilEachSettled: whether the culprit was judged failed in the last look (else it restarted or left "up" within the window). */
    readonly failed?: boolean,
  ) {
    super(culprit === undefined ? why : `${culprit}: ${why}`);
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

export interface EachSettleOptions<S> extends Omit<SettleOptions<S>, 'judge'> {
  /** Judges every item of one look (unit, app, container, program), keyed by the name a report uses. */
  judgeItems(state: S, now: number): Map<string, Judgement>;
}

/**
 * waitUntilSettled for a service of several items, judged together by judgeEach. When it does
 * not settle, the NotSettled it throws names one `culprit` for the plugin to report on (its
 * logs, its journal): the item judged failed in the last look; else the first item no longer
 * judged as it was when all first came up (the one that restarted or dropped out in the window).
 */
export async function waitUntilEachSettled<S>(options: EachSettleOptions<S>): Promise<S> {
  let cameUp: Map<string, Judgement> | undefined;
  let last = new Map<string, Judgement>();
  try {
    return await waitUntilSettled({
      ...options,
      judge(state, now) {
        last = options.judgeItems(state, now);
        const judgement = judgeEach(last);
        if (judgement.kind === 'up') cameUp ??= last;
        return judgement;
      },
    });
  } catch (error) {
    if (!(error instanceof NotSettled)) throw error;
    throw blame(error, last, cameUp);
  }
}

/** The NotSettled of waitUntilEachSettled: the same look, and the one item to blame for it. */
function blame<S>(failure: NotSettled<S>, last: Map<string, Judgement>, cameUp: Map<string, Judgement> | undefined): NotSettled<S> {
  for (const [item, judgement] of last) {
    if (judgement.kind === 'failed') return new NotSettled(judgement.why, failure.state, item, true);
  }
  // cameUp was taken with every item up: one judged otherwise since restarted, or dropped out of "up".
  const items = [...last.keys()];
  const moved = items.find((item) => !isDeepStrictEqual(last.get(item), cameUp?.get(item))) ?? items[0];
  return new NotSettled(failure.why, failure.state, moved, false);
}

/** A NotSettled from waitUntilEachSettled: it always names its culprit. */
export type Blamed<S> = NotSettled<S> & {culprit: string; failed: boolean};

export interface ServiceSettleOptions<S> extends Omit<EachSettleOptions<S>, 'signal' | 'log'> {
  /** The error the operator reads when the service did not settle: the plugin's report on `failure.culprit`. */
  explain(failure: Blamed<S>): Error | Promise<Error>;
  /**
   * false: the restart is done once settled, without waiting for health.url's address to
   * accept connections (a service that serves nothing there).
   */
  accepting?: boolean;
}

/**
 * What a supervisor plugin's restart hook calls: waitUntilEachSettled bounded by the hook (its
 * signal, so the hook's timeout ends the wait, and its log), and, when the service does not
 * settle, the plugin's own explanation of the culprit thrown instead of the bare NotSettled.
 * Once settled, it waits until health.url's address accepts connections again (accepting.ts),
 * for at most health.timeoutSeconds, so the restart ends when the new process answers and a
 * rollback's restart takes the same path.
 */
export async function settleService<S>(
  ctx: {signal: AbortSignal; log: PluginLogger; config?: Pick<HostSettings, 'health'>},
  options: ServiceSettleOptions<S>,
): Promise<S> {
  let state: S;
  try {
    state = await waitUntilEachSettled({...options, signal: ctx.signal, log: ctx.log});
  } catch (error) {
    if (!(error instanceof NotSettled)) throw error;
    throw await options.explain(error as Blamed<S>);
  }
  const health = ctx.config?.health;
  if (health === undefined || options.accepting === false) return state;
  const target = acceptTargetOf(health.url);
  if (target === undefined) return state;
  try {
    const accepted = await waitUntilAccepting(target, {timeoutMs: health.timeoutSeconds * 1000, signal: ctx.signal});
    ctx.log.info({address: describeTarget(target), waitedMs: accepted.waitedMs, attempts: accepted.attempts}, 'the service accepts connections');
  } catch (error) {
    if (!(error instanceof NotAccepting)) throw error;
    throw new PluginError(`the service is up but ${error.message}`, {
      next: `make the app listen on ${describeTarget(target)}, or correct health.url in parako.json to the address it listens on`,
    });
  }
  return state;
}
