/**
 * What Docker says about a service's containers (`docker inspect`), and whether one is up:
 * running, started by this restart, healthy where it has a healthcheck, and not restarted
 * by Docker since.
 */
import type {HookContext} from 'parako';

export interface ContainerState {
  id: string;
  name: string;
  /** created | running | paused | restarting | removing | exited | dead, or `removed` when Docker no longer knows it. */
  status: string;
  /** ms since the epoch; 0 when it never started. */
  startedAt: number;
  exitCode: number;
  /** Restarts by the container's restart policy. Docker resets it to 0 on every start it is asked for (restart, up). */
  restartCount: number;
  /** starting | healthy | unhealthy; undefined when the container has no healthcheck. */
  health?: string;
  /** What the last health probe printed. */
  healthOutput?: string;
  /** A `compose run` container, not one of the service's own. */
  oneOff: boolean;
}

export type Verdict = {up: true} | {up: false; failed: boolean; state: string};

/** `docker inspect` of some containers; an id Docker no longer knows comes back as `removed`. */
export async function inspectContainers(ctx: HookContext, ids: string[]): Promise<Map<string, ContainerState>> {
  const states = new Map<string, ContainerState>();
  if (ids.length === 0) return states;
  // Exit 1 when some id is gone; the ones Docker still knows are printed all the same.
  const result = await ctx.exec('docker', ['inspect', '--type', 'container', ...ids]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout || '[]');
  } catch {
    throw new Error(`docker inspect ${ids.join(' ')} exited ${result.code} without JSON: ${result.stderr.trim() || result.stdout.slice(0, 200)}`);
  }
  for (const raw of parsed as Inspected[]) {
    const state = containerState(raw);
    const asked = ids.find((id) => state.id.startsWith(id));
    if (asked !== undefined) states.set(asked, state);
  }
  for (const id of ids) {
    if (!states.has(id)) states.set(id, {id, name: id.slice(0, 12), status: 'removed', startedAt: 0, exitCode: 0, restartCount: 0, oneOff: false});
  }
  return states;
}

interface Inspected {
  Id: string;
  Name?: string;
  RestartCount?: number;
  State?: {Status?: string; StartedAt?: string; ExitCode?: number; Health?: {Status?: string; Log?: Array<{Output?: string}>}};
  Config?: {Labels?: Record<string, string> | null};
}

function containerState(raw: Inspected): ContainerState {
  const started = Date.parse(raw.State?.StartedAt ?? '');
  const lastProbe = raw.State?.Health?.Log?.at(-1)?.Output?.trim();
  return {
    id: raw.Id,
    name: (raw.Name ?? raw.Id.slice(0, 12)).replace(/^\//, ''),
    status: raw.State?.Status ?? 'unknown',
    // Docker's zero time (0001-01-01) parses to a negative number: never started.
    startedAt: Number.isFinite(started) && started > 0 ? started : 0,
    exitCode: raw.State?.ExitCode ?? 0,
    restartCount: raw.RestartCount ?? 0,
    health: raw.State?.Health?.Status,
    healthOutput: lastProbe === '' ? undefined : lastProbe,
    oneOff: raw.Config?.Labels?.['com.docker.compose.oneoff'] === 'True',
  };
}

/**
 * Is the container up after the restart? `startedBefore` is its start time before the
 * restart (undefined for a container the restart created). Waiting states (created,
 * health starting) are not failures; a container that exited, or that Docker is
 * restarting, is: its process died after the restart.
 */
export function judge(container: ContainerState, startedBefore?: number): Verdict {
  const state = describe(container);
  switch (container.status) {
    case 'running':
      break;
    case 'created':
      return {up: false, failed: false, state};
    default:
      return {up: false, failed: true, state};
  }
  if (container.restartCount > 0) return {up: false, failed: true, state};
  if (startedBefore !== undefined && container.startedAt <= startedBefore) return {up: false, failed: false, state: `${state}, not restarted yet`};
  if (container.health === 'unhealthy') return {up: false, failed: true, state};
  if (container.health === 'starting') return {up: false, failed: false, state};
  return {up: true};
}

/** One container's state in the operator's words: `restarting (exit code 1, restarted 3 times by Docker)`. */
export function describe(container: ContainerState): string {
  const notes: string[] = [];
  if (container.status === 'exited' || container.status === 'restarting' || container.status === 'dead') notes.push(`exit code ${container.exitCode}`);
  if (container.health !== undefined) notes.push(`health: ${container.health}`);
  if (container.restartCount > 0) notes.push(`restarted ${container.restartCount} time${container.restartCount === 1 ? '' : 's'} by Docker since parako's restart`);
  if (container.health === 'unhealthy' && container.healthOutput !== undefined) notes.push(`last probe said: ${container.healthOutput.slice(0, 200)}`);
  return notes.length === 0 ? container.status : `${container.status} (${notes.join(', ')})`;
}

/**
 * What one container logged since `since`, at most `lines` lines, stdout and stderr in the
 * order they were written. `docker logs` rather than `compose logs`: Compose v1 has no
 * `--since`, and the failure is about one container anyway. Never throws: it only adds to a
 * failure's message.
 */
export async function logsSince(ctx: HookContext, container: ContainerState, since: Date, lines: number): Promise<string> {
  const args = ['logs', '--timestamps', '--since', since.toISOString(), '--tail', String(lines), container.id];
  const command = `docker logs --since ${since.toISOString()} --tail ${lines} ${container.name}`;
  const heading = `since the restart at ${clock(since)} (${command})`;
  let result: Awaited<ReturnType<HookContext['exec']>>;
  try {
    result = await ctx.exec('docker', args);
  } catch (error) {
    return `no log lines: ${command} could not run: ${(error as Error).message}`;
  }
  if (result.code !== 0) return `no log lines: ${command} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`;
  // docker logs writes the container's stderr on its own stderr; the timestamps put the two back in order.
  const logged = [...timestamped(result.stdout), ...timestamped(result.stderr)].sort((a, b) => sortKey(a.at).localeCompare(sortKey(b.at))).slice(-lines);
  if (logged.length === 0) return `no log lines ${heading}`;
  return `log lines ${heading}:\n${logged.map((line) => `  ${line.text}`).join('\n')}`;
}

/** `2026-12-03T15:45:12.123456789Z text` lines, as `docker logs --timestamps` prints them. */
function timestamped(output: string): Array<{at: string; text: string}> {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const space = line.indexOf(' ');
      return space === -1 ? {at: line, text: ''} : {at: line.slice(0, space), text: line.slice(space + 1)};
    });
}

/** The timestamp with its fraction padded to nanoseconds, so that text order is time order. */
function sortKey(at: string): string {
  return at.replace(/(\.\d*)?Z$/, (_, fraction: string | undefined) => `${(fraction ?? '.').padEnd(10, '0')}Z`);
}

/** `03:00:12`, in the host's time zone. */
export function clock(at: Date): string {
  return at.toTimeString().slice(0, 8);
}
