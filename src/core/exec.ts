import {execFileSync, spawn} from 'node:child_process';
import {closeSync, existsSync, openSync, readdirSync, readFileSync} from 'node:fs';
import {open} from 'node:fs/promises';

import type {ExecOptions, ExecResult} from '../sdk/contract.js';
import type {Logger} from './logger.js';

export type {ExecOptions, ExecResult} from '../sdk/contract.js';

interface UserIds {
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

const MAX_CAPTURE = 1024 * 1024;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

/** PATH of a program run as another user: sudo's secure_path, none of root's own directories. */
export const RUN_AS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Kept from parako's environment for a program run as another user: how to show text and time, nothing about who runs it. */
const KEPT_FOR_RUN_AS = /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ)$/;
/** Linux's O_CLOEXEC, as /proc/self/fdinfo shows the flags (in octal); Node does not export it. */
const O_CLOEXEC = 0o2000000;

/** Process groups of programs running as another user, killed if parako exits before them. */
const runningGroups = new Set<number>();

/**
 * Runs a program with an argument array (never through a shell unless the caller asks for
 * /bin/sh itself), capturing its output, and kills it when `signal` aborts.
 */
export async function execCommand(
  command: string,
  args: string[],
  options: ExecOptions & {log: Logger; signal?: AbortSignal},
): Promise<ExecResult> {
  const ids = options.runAs === undefined ? undefined : lookupUser(options.runAs);
  const env = ids === undefined ? {...process.env, ...options.env} : runAsEnvironment(options.runAs!, ids, options.env);
  options.log.info({program: command, args, runAs: options.runAs, cwd: options.cwd}, 'exec');
  // Node's uid/gid switch drops every supplementary group (an app user in a group such as docker would
  // lose it); setpriv from util-linux sets the user's groups as a login would.
  const viaSetpriv = ids !== undefined && SETPRIV !== undefined;
  const [program, argv] = viaSetpriv ? [SETPRIV!, [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', '--', command, ...args]] : [command, args];
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal);
  const inherited = ids === undefined ? [] : inheritedDescriptors();
  const stdoutFile = options.stdoutTo === undefined ? undefined : await open(options.stdoutTo, 'w', 0o600);
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', stdoutFile?.fd ?? 'pipe', 'pipe'];
  // Each inherited descriptor is covered with /dev/null, so another user's program cannot use it.
  const devNull = inherited.length === 0 ? undefined : openSync('/dev/null', 'r');
  for (const fd of inherited) {
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = devNull!;
  }
  return new Promise<ExecResult>((resolve, reject) => {
    let child;
    try {
      child = spawn(program, argv, {
        cwd: options.cwd,
        env,
        uid: viaSetpriv ? undefined : ids?.uid,
        gid: viaSetpriv ? undefined : ids?.gid,
        stdio,
        // Another user's program gets a session of its own (setsid), so it has no controlling
        // terminal: root's terminal can be neither opened as /dev/tty nor fed keystrokes (TIOCSTI).
        detached: ids !== undefined,
      });
    } finally {
      if (devNull !== undefined) closeSync(devNull);
    }
    const group = ids !== undefined ? child.pid : undefined;
    if (group !== undefined) watchGroup(group);
    const stop = (): void => {
      try {
        // A detached program leads its own process group: the group is signalled, so what it
        // started (the commands of a migration's shell) dies with it.
        if (group === undefined) child.kill('SIGTERM');
        else process.kill(-group, 'SIGTERM');
      } catch (error) {
        // ESRCH: the whole group has ended already.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') options.log.warn({program: command, err: (error as Error).message}, 'exec: cannot stop the program');
      }
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', stop, {once: true});
    const out = {stdout: '', stderr: ''};
    for (const stream of ['stdout', 'stderr'] as const) {
      if (child[stream] === null) continue; // stdout went into stdoutTo
      let pending = '';
      child[stream].setEncoding('utf8');
      child[stream].on('data', (chunk: string) => {
        if (out[stream].length < MAX_CAPTURE) out[stream] += chunk;
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onOutput?.(line, stream);
      });
      child[stream].on('end', () => {
        if (pending !== '') options.onOutput?.(pending, stream);
      });
    }
    child.on('error', (error) => {
      signal?.removeEventListener('abort', stop);
      if (group !== undefined) runningGroups.delete(group);
      void stdoutFile?.close();
      reject(error);
    });
    child.on('close', (code, exitSignal) => {
      signal?.removeEventListener('abort', stop);
      if (group !== undefined) runningGroups.delete(group);
      void stdoutFile?.close();
      const result: ExecResult = {code: code ?? 128, signal: exitSignal ?? undefined, ...out};
      options.log.info({program: command, code: result.code, signal: result.signal}, 'exec finished');
      resolve(result);
    });
  });
}

/**
 * The environment of a program run as another user, reset the way sudo resets it: a fixed
 * PATH, the user's HOME, USER, LOGNAME and SHELL, parako's locale and time zone, and then
 * only what the caller names in `explicit`. Nothing else of root's environment (cloud keys,
 * database URLs) reaches it.
 */
function runAsEnvironment(name: string, user: {home: string; shell: string}, explicit: Record<string, string> = {}): Record<string, string> {
  const kept = Object.entries(process.env).filter((entry): entry is [string, string] => KEPT_FOR_RUN_AS.test(entry[0]) && entry[1] !== undefined);
  return {...Object.fromEntries(kept), PATH: RUN_AS_PATH, HOME: user.home, USER: name, LOGNAME: name, SHELL: user.shell, ...explicit};
}

/**
 * Descriptors parako inherited without close-on-exec (a lock a calling script holds, a file
 * root's shell opened). Node opens its own close-on-exec, but inherited ones may stay open
 * across exec (libuv closes nothing beyond stdio), so every child would get them.
 */
function inheritedDescriptors(): number[] {
  const inherited: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2) continue;
    let flags: string | undefined;
    try {
      flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    } catch {
      // Closed since the listing (the listing's own descriptor is one): nothing to cover.
      continue;
    }
    if (flags === undefined || (Number.parseInt(flags, 8) & O_CLOEXEC) === 0) inherited.push(fd);
  }
  return inherited;
}

let exitWatched = false;

function watchGroup(group: number): void {
  if (!exitWatched) {
    // On a forced exit (a second SIGINT) parako ends another user's programs itself: being in
    // sessions of their own, they no longer get the terminal's signals.
    process.on('exit', () => {
      for (const running of runningGroups) {
        try {
          process.kill(-running, 'SIGTERM');
        } catch {
          // ESRCH (it ended meanwhile) or anything else: parako is exiting and can do no more.
        }
      }
    });
    exitWatched = true;
  }
  runningGroups.add(group);
}

/** What Node's own `signal` option rejects with: an AbortError carrying the reason. */
function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', {cause: signal.reason});
  error.name = 'AbortError';
  return error;
}

/** uid, gid, home and login shell of a system user, from the system's user database (NSS via getent). */
export function lookupUser(name: string): UserIds {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], {encoding: 'utf8'}).trim();
  } catch {
    throw new Error(`no system user named "${name}" (getent passwd ${name} found nothing)`);
  }
  const fields = line.split(':');
  return {uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] || '/', shell: fields[6] || '/bin/sh'};
}
