/**
 * restart: when `supervisor.type` is "compose", restart the services so their containers run
 * the release `current` now points to, and wait until each is up — running, started by this
 * restart, `healthy` where it has a healthcheck — and stays up for a settle window. A
 * failure names the service and its state and shows its last log lines; parako then rolls
 * back (DESIGN §6 step 10).
 *
 *   "supervisor": {"type": "compose", "file": "runtime/compose.yaml", "services": ["app"], "mode": "restart"}
 */
import {setTimeout as sleep} from 'node:timers/promises';

import type {HookContext} from 'parako';

import {ComposeProject} from '../compose.js';
import {type ContainerState, describe, inspectContainers, judge} from '../containers.js';

/** A container that dies within this long of coming up is a failed restart, not a running service. */
/** How long every container must stay up after the restart, unless supervisor.settleSeconds says otherwise. */
const DEFAULT_SETTLE_SECONDS = 3;
const POLL_MS = 500;
const LOG_LINES = 20;

type Services = Map<string, string[]>; // service -> container ids

export default async function restart({ctx}: {ctx: HookContext}): Promise<void> {
  const supervisor = ctx.config.supervisor;
  if (supervisor?.type !== 'compose') return;
  const started = Date.now();
  const settleSeconds = supervisor.settleSeconds ?? DEFAULT_SETTLE_SECONDS;
  const compose = await ComposeProject.open(ctx, supervisor.file);
  const action = supervisor.mode === 'up' ? upArgs(supervisor.services) : ['restart', ...supervisor.services];

  // restart leaves a service without containers alone; up creates them.
  const startedBefore = startTimes(await containersOf(ctx, compose, supervisor.services, supervisor.mode !== 'up'));
  await compose.run(action);
  const services = idsOf(await containersOf(ctx, compose, supervisor.services, true));
  try {
    const upAt = await waitUntilUp(ctx, services, startedBefore);
    await settle(ctx, services, upAt, settleSeconds * 1000);
  } catch (error) {
    if (!(error instanceof ServiceDown)) throw error;
    const logs = await compose.logs(error.service, LOG_LINES);
    throw new Error(
      `service ${error.service} is not up after \`${compose.cli.name} ${action.join(' ')}\`: ${error.state}\n` +
        `last ${LOG_LINES} log lines (${compose.commandLine(['logs', '--tail', String(LOG_LINES), error.service])}):\n${indent(logs)}`,
    );
  }
  const count = [...services.values()].reduce((sum, ids) => sum + ids.length, 0);
  ctx.say(
    `${compose.cli.name} ${action.join(' ')}: ${count} container${count === 1 ? '' : 's'} up and stable for ${settleSeconds} s ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s, ${compose.cli.name} ${compose.cli.version})`,
  );
}

/**
 * `up` applies a compose file that changed with the release. `--force-recreate` because an
 * unchanged service definition would otherwise keep its container, still running the old
 * code; `--no-deps` because Compose v1 would force-recreate the dependencies (the database)
 * as well.
 */
function upArgs(services: string[]): string[] {
  return ['up', '-d', '--no-deps', '--force-recreate', ...services];
}

class ServiceDown extends Error {
  constructor(
    readonly service: string,
    readonly state: string,
  ) {
    super(`${service}: ${state}`);
  }
}

/** The service's own containers (not one-off `run` ones); with `required`, a service without any is a failure. */
async function containersOf(ctx: HookContext, compose: ComposeProject, services: string[], required: boolean): Promise<Map<string, ContainerState[]>> {
  const found = new Map<string, ContainerState[]>();
  for (const service of services) {
    const states = await inspectContainers(ctx, await compose.containerIds(service));
    const own = [...states.values()].filter((container) => !container.oneOff);
    if (required && own.length === 0) {
      throw new Error(
        `service ${service} has no container in the project of ${compose.file}: start it once with ` +
          `\`${compose.commandLine(['up', '-d', service])}\` (with the project name it runs under: COMPOSE_PROJECT_NAME, or .env in ${compose.projectDir})`,
      );
    }
    found.set(service, own);
  }
  return found;
}

/** When each container last started, so "started by this restart" can be told apart. */
function startTimes(containers: Map<string, ContainerState[]>): Map<string, number> {
  return new Map([...containers.values()].flat().map((container) => [container.id, container.startedAt]));
}

function idsOf(containers: Map<string, ContainerState[]>): Services {
  return new Map([...containers].map(([service, states]) => [service, states.map((container) => container.id)]));
}

/** Polls until every container is up; fails at the first one that died. Bounded by ctx.signal (the hook's timeout). */
async function waitUntilUp(ctx: HookContext, services: Services, startedBefore: Map<string, number>): Promise<Map<string, ContainerState>> {
  let logged: string | undefined;
  for (;;) {
    const states = await inspectContainers(ctx, [...services.values()].flat());
    let waitingFor: string | undefined;
    for (const [service, ids] of services) {
      for (const id of ids) {
        const container = states.get(id)!;
        const verdict = judge(container, startedBefore.get(container.id));
        if (verdict.up) continue;
        if (verdict.failed) throw new ServiceDown(service, `container ${container.name} is ${verdict.state}`);
        waitingFor ??= `${service}: ${verdict.state}`;
      }
    }
    if (waitingFor === undefined) return states;
    // Into parako.log each time it changes: if the hook times out, this says what it waited for.
    if (waitingFor !== logged) ctx.log.info({waitingFor}, 'waiting for the services to come up');
    logged = waitingFor;
    await sleep(POLL_MS, undefined, {signal: ctx.signal});
  }
}

/** Up is not enough: a process that crashes a second after starting must not pass as running. */
async function settle(ctx: HookContext, services: Services, upAt: Map<string, ContainerState>, settleMs: number): Promise<void> {
  const until = Date.now() + settleMs;
  while (Date.now() < until) {
    await sleep(Math.min(POLL_MS, Math.max(0, until - Date.now())), undefined, {signal: ctx.signal});
    const states = await inspectContainers(ctx, [...services.values()].flat());
    for (const [service, ids] of services) {
      for (const id of ids) {
        const before = upAt.get(id)!;
        const now = states.get(id)!;
        const verdict = judge(now);
        if (!verdict.up || now.startedAt !== before.startedAt) {
          throw new ServiceDown(service, `container ${now.name} came up, then within ${settleMs / 1000} s was ${describe(now)}`);
        }
      }
    }
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
