/**
 * How the programs are judged after parako's restart, one look at a time (for the SDK's
 * waitUntilSettled). `supervisorctl restart` calls a program started once it has run for its
 * `startsecs` (1 s by default), so a release that dies a moment later, or that supervisord
 * keeps starting again, would otherwise look restarted and fine.
 */
import type {Judgement} from 'parako';

import type {ProgramStatus} from './supervisorctl.js';

/** One process in one look, judged. `program` is undefined when supervisord no longer lists it. */
export interface Judged {
  name: string;
  program?: ProgramStatus;
  judgement: Judgement;
}

/**
 * One process: up once RUNNING with a pid it did not have before the restart (its identity
 * is that pid); waiting while STARTING or STOPPING; failed in any other state, or when it
 * still runs its old pid (the restart returns only after stopping and starting it).
 */
export function judgeProgram(program: ProgramStatus | undefined, pidBefore: number | undefined): Judgement {
  if (program === undefined) return {kind: 'failed', why: 'supervisord no longer lists it (removed from its config during the restart?)'};
  if (program.state === 'STARTING' || program.state === 'STOPPING') return {kind: 'waiting', what: `${program.name} ${program.state}`};
  if (program.state !== 'RUNNING') return {kind: 'failed', why: `supervisord shows it ${stateOf(program)}`};
  if (program.pid === undefined) return {kind: 'waiting', what: `${program.name} RUNNING without a pid yet`};
  if (program.pid === pidBefore) return {kind: 'failed', why: `it still runs its old pid ${program.pid}: supervisorctl restart did not replace it`};
  return {kind: 'up', identity: `${program.name} pid ${program.pid}`};
}

/** Every process of one look, matched by name with the look before the restart. */
export function judgeEach(look: ProgramStatus[], before: ProgramStatus[]): Judged[] {
  const names = [...new Set([...before, ...look].map((program) => program.name))];
  return names.map((name) => {
    const program = look.find((candidate) => candidate.name === name);
    const pidBefore = before.find((candidate) => candidate.name === name)?.pid;
    return {name, ...(program === undefined ? {} : {program}), judgement: judgeProgram(program, pidBefore)};
  });
}

/** The look as a whole: failed if one failed, waiting if one waits, else up with every pid as its identity. */
export function judgeAll(judged: Judged[]): Judgement {
  const judgements = judged.map((entry) => entry.judgement);
  const notUp = judgements.find((judgement) => judgement.kind === 'failed') ?? judgements.find((judgement) => judgement.kind === 'waiting');
  return notUp ?? {kind: 'up', identity: judgements.map(identityOf).join(', ')};
}

/**
 * The processes a failure is about, each with its reason: those judged failed in the last
 * look; else, when the settle window caught a restart, those no longer up with the pid they
 * came up with; else all of them.
 */
export function culprits(last: Judged[], cameUp: Judged[] | undefined, why: string): Array<Judged & {why: string}> {
  const failed = last.flatMap((entry) => (entry.judgement.kind === 'failed' ? [{...entry, why: entry.judgement.why}] : []));
  if (failed.length > 0) return failed;
  const changed = last.filter((entry) => identityOf(entry.judgement) !== identityOf(cameUp?.find((earlier) => earlier.name === entry.name)?.judgement));
  return (changed.length > 0 ? changed : last).map((entry) => ({...entry, why}));
}

/** `BACKOFF (Exited too quickly (process log may have details))`, as supervisorctl status words it. */
export function stateOf(program: ProgramStatus): string {
  return program.description === '' ? program.state : `${program.state} (${program.description})`;
}

function identityOf(judgement: Judgement | undefined): string | undefined {
  return judgement?.kind === 'up' ? judgement.identity : undefined;
}
