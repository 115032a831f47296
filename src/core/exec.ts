import {execFileSync, spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {open} from 'node:fs/promises';

import type {Logger} from './logger.js';

export interface ExecOptions {
  /** A system user name: the command runs with that user's uid, gid and supplementary groups. */
  runAs?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Lines of output are streamed here as they come (the migration's output, for instance). */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * Send stdout into this file instead of capturing it (a dump of any size). parako opens it,
   * so a program running as another user can write a file in a folder only root may enter.
   */
  stdoutTo?: string;
}

export interface ExecResult {
  code: number;
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
}

interface UserIds {
  uid: number;
  gid: number;
  home: string;
}

const MAX_CAPTURE = 1024 * 1024;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

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
  const env: NodeJS.ProcessEnv = {...process.env, ...options.env};
  if (ids !== undefined) {
    env.HOME = ids.home;
    env.USER = options.runAs;
    env.LOGNAME = options.runAs;
  }
  options.log.info({program: command, args, runAs: options.runAs, cwd: options.cwd}, 'exec');
  // Node's uid/gid switch drops every supplementary group (a pm2 user in group docker would
  // lose it); setpriv from util-linux sets the user's groups as a login would.
  const viaSetpriv = ids !== undefined && SETPRIV !== undefined;
  const [program, argv] = viaSetpriv ? [SETPRIV!, [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', '--', command, ...args]] : [command, args];
  const stdoutFile = options.stdoutTo === undefined ? undefined : await open(options.stdoutTo, 'w', 0o600);
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(program, argv, {
      cwd: options.cwd,
      env,
      uid: viaSetpriv ? undefined : ids?.uid,
      gid: viaSetpriv ? undefined : ids?.gid,
      stdio: ['ignore', stdoutFile?.fd ?? 'pipe', 'pipe'],
      signal: options.signal,
      killSignal: 'SIGTERM',
    });
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
      void stdoutFile?.close();
      reject(error);
    });
    child.on('close', (code, signal) => {
      void stdoutFile?.close();
      const result: ExecResult = {code: code ?? 128, signal: signal ?? undefined, ...out};
      options.log.info({program: command, code: result.code, signal: result.signal}, 'exec finished');
      resolve(result);
    });
  });
}

/** uid, gid and home of a system user, from the system's user database (NSS via getent). */
export function lookupUser(name: string): UserIds {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], {encoding: 'utf8'}).trim();
  } catch {
    throw new Error(`no system user named "${name}" (getent passwd ${name} found nothing)`);
  }
  const fields = line.split(':');
  return {uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '/'};
}
