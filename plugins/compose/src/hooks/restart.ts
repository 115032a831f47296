/**
 * restart when compose runs the app (docs/supervisors/compose.md): restart the services so their
 * containers run the release `current` now points to, and wait until each is up — running,
 * started by this restart, `healthy` where it has a healthcheck — and stays up for a settle
 * window. A failure names the service and its state and shows what it logged since the restart; parako then
 * rolls back.
 *
 *   "supervisor": {"type": "compose", "file": "runtime/compose.yaml", "services": ["app"], "mode": "restart"}
 */
import {defineHook, type HookContext, type Judgement, settleService} from 'parako';

import {ComposeProject} from '../compose.js';
import {type ContainerState, describe, inspectContainers, judge, logsSince} from '../containers.js';
import {provider} from '../provides.js';

/** How long every container must stay up after the restart, unless supervisor.settleSeconds says otherwise. */
const DEFAULT_SETTLE_SECONDS = 3;
const POLL_MS = 500;
const LOG_LINES = 20;

type Services = Map<string, string[]>; // service -> container ids
/** One `docker inspect` of every container, each with its service. */
type Look = Array<{service: string; container: ContainerState}>;

export default defineHook('restart', async ({ctx}) => {
  const settings = provider.settingsOf(ctx);
  const started = Date.now();
  const settleSeconds = settings.settleSeconds ?? DEFAULT_SETTLE_SECONDS;
  const compose = await ComposeProject.open(ctx, settings.file);
  const action = settings.mode === 'up' ? upArgs(settings.services) : ['restart', ...settings.services];

  // restart leaves a service without containers alone; up creates them.
  const startedBefore = startTimes(await containersOf(ctx, compose, settings.services, settings.mode !== 'up'));
  // Taken before the restart: the failure shows only what the containers logged from here on.
  const restartedAt = new Date();
  await compose.run(action);
  const services = idsOf(await containersOf(ctx, compose, settings.services, true));
  try {
    await settle(ctx, services, startedBefore, settleSeconds * 1000);
  } catch (error) {
    if (!(error instanceof ServiceDown)) throw error;
    throw new Error(
      `service ${error.service} is not up after \`${compose.cli.name} ${action.join(' ')}\`: ${error.state}\n` +
        (await logsSince(ctx, error.container, restartedAt, LOG_LINES)),
    );
  }
  const count = [...services.values()].reduce((sum, ids) => sum + ids.length, 0);
  ctx.say(
    `${compose.cli.name} ${action.join(' ')}: ${count} container${count === 1 ? '' : 's'} up and stable for ${settleSeconds} s ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s, ${compose.cli.name} ${compose.cli.version})`,
  );
});

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
    /** The container that is down: its logs are the ones shown. */
    readonly container: ContainerState,
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

/**
 * Polls `docker inspect` until every container is up, then for the settle window: a container
 * that dies, or starts again, throws ServiceDown. Bounded by ctx.signal (the hook's timeout).
 */
async function settle(ctx: HookContext, services: Services, startedBefore: Map<string, number>, settleMs: number): Promise<void> {
  await settleService(ctx, {
    observe: async (): Promise<Look> => {
      const states = await inspectContainers(ctx, [...services.values()].flat());
      return [...services].flatMap(([service, ids]) => ids.map((id) => ({service, container: states.get(id)!})));
    },
    judgeItems: (look) => new Map(look.map(({container}) => [container.name, judgeContainer(container, startedBefore.get(container.id))])),
    settleMs,
    pollMs: POLL_MS,
    explain: (failure) => {
      const {service, container} = failure.state.find((entry) => entry.container.name === failure.culprit)!;
      const state = `container ${container.name} is ${describe(container)}`;
      return new ServiceDown(service, container, failure.failed ? state : `${failure.why}: ${state}`);
    },
  });
}

/** One container in one look, by containers.ts's judge; its identity is when it started. */
function judgeContainer(container: ContainerState, startedBefore: number | undefined): Judgement {
  const verdict = judge(container, startedBefore);
  if (verdict.up) return {kind: 'up', identity: `${container.id}@${container.startedAt}`};
  return verdict.failed ? {kind: 'failed', why: verdict.state} : {kind: 'waiting', what: verdict.state};
}
