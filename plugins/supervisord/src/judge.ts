/**
 * How the programs are judged after parako's restart, one look at a time (for the SDK's
 * waitUntilEachSettled). `supervisorctl restart` calls a program started once it has run for its
 * `startsecs` (1 s by default), so a release that dies a moment later, or that supervisord
 * keeps starting again, would otherwise look restarted and fine.
 */
import type {Judgement} from 'parako';

import type {ProgramStatus} from './supervisorctl.js';

/**
 * One process: up once RUNNING with a pid it did not have before the restart (its identity
 * is that pid); waiting while STARTING or STOPPING; failed in any other state, or when it
 * still runs its old pid (the restart returns only after stopping and starting it).
 */
export function judgeProgram(program: ProgramStatus | undefined, pidBefore: number | undefined): Judgement {
  if (program === undefined) return {kind: 'failed', why: 'supervisord no longer lists it (removed from its config during the restart?)'};
  if (program.state === 'STARTING' || program.state === 'STOPPING') return {kind: 'waiting', what: program.state};
  if (program.state !== 'RUNNING') return {kind: 'failed', why: `supervisord shows it ${stateOf(program)}`};
  if (program.pid === undefined) return {kind: 'waiting', what: 'RUNNING without a pid yet'};
  if (program.pid === pidBefore) return {kind: 'failed', why: `it still runs its old pid ${program.pid}: supervisorctl restart did not replace it`};
  return {kind: 'up', identity: `pid ${program.pid}`};
}

/** Every process of one look, keyed by name, matched with the look before the restart (for waitUntilEachSettled). */
export function judgePrograms(look: ProgramStatus[], before: ProgramStatus[]): Map<string, Judgement> {
  const names = new Set([...before, ...look].map((program) => program.name));
  return new Map([...names].map((name) => [name, judgeProgram(look.find((program) => program.name === name), before.find((program) => program.name === name)?.pid)]));
}

/** `BACKOFF (Exited too quickly (process log may have details))`, as supervisorctl status words it. */
export function stateOf(program: ProgramStatus): string {
  return program.description === '' ? program.state : `${program.state} (${program.description})`;
}
