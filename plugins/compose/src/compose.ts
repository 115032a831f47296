/**
 * The compose CLI this host has — `docker compose` (Compose v2, a docker CLI plugin) or
 * `docker-compose` (v1, Debian's package) — bound to one project: always the same `-f` file
 * and `--project-directory`, so parako sees the containers the operator started with the
 * same file (and compose reads the same `.env`, hence the same project name).
 */
import {access} from 'node:fs/promises';
import {dirname, resolve} from 'node:path';

import type {ExecResult, HookContext} from 'parako';

export interface ComposeCli {
  program: string;
  /** Arguments before the compose options: ['compose'] for v2, none for v1. */
  prefix: string[];
  /** As an operator types it. */
  name: 'docker compose' | 'docker-compose';
  version: string;
}

/** Compose v2 when `docker compose version` works, else v1's `docker-compose`. */
export async function detectCompose(ctx: HookContext): Promise<ComposeCli> {
  const v2 = await execIfInstalled(ctx, 'docker', ['compose', 'version', '--short']);
  if (v2?.code === 0) return {program: 'docker', prefix: ['compose'], name: 'docker compose', version: v2.stdout.trim()};
  const v1 = await execIfInstalled(ctx, 'docker-compose', ['version', '--short']);
  if (v1?.code === 0) return {program: 'docker-compose', prefix: [], name: 'docker-compose', version: v1.stdout.trim()};
  throw new Error(
    'neither `docker compose` (Compose v2) nor `docker-compose` (v1) works on this host' +
      (v1 === undefined ? '' : `: docker-compose version exited ${v1.code}: ${excerpt(v1.stderr)}`) +
      '; install one (Debian: apt-get install docker-compose) or set supervisor.type to the supervisor that runs the app',
  );
}

/** Runs a program, or answers undefined when it is not installed. */
async function execIfInstalled(ctx: HookContext, program: string, args: string[]): Promise<ExecResult | undefined> {
  try {
    return await ctx.exec(program, args);
  } catch (error) {
    // Not installed is an answer here (try the other CLI); anything else (an abort) is not.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class ComposeProject {
  private constructor(
    private readonly ctx: HookContext,
    readonly cli: ComposeCli,
    /** The compose file, absolute. */
    readonly file: string,
    /** Its directory: relative paths and `.env` are read from there. */
    readonly projectDir: string,
  ) {}

  /** `supervisor.file`, relative to the install dir unless absolute. */
  static async open(ctx: HookContext, file: string): Promise<ComposeProject> {
    const project = projectOf(ctx.dir, file);
    try {
      await access(project.file);
    } catch {
      throw new Error(`the compose file ${project.file} (supervisor.file in ${ctx.dir}/parako.json) does not exist or cannot be read`);
    }
    return new ComposeProject(ctx, await detectCompose(ctx), project.file, project.projectDir);
  }

  /** The command line as the operator would type it, for messages. */
  commandLine(args: string[]): string {
    return [this.cli.name, '-f', this.file, '--project-directory', this.projectDir, ...args].join(' ');
  }

  /** Runs `<compose> -f F --project-directory D ...args`; a nonzero exit throws with compose's own words. */
  async run(args: string[]): Promise<string> {
    const result = await this.ctx.exec(this.cli.program, [...this.cli.prefix, '-f', this.file, '--project-directory', this.projectDir, ...args]);
    if (result.code !== 0) {
      throw new Error(`${this.commandLine(args)} exited ${result.code}: ${excerpt(result.stderr || result.stdout)}`);
    }
    return result.stdout;
  }

  /**
   * Ids of the service's containers, stopped ones included. `ps` lists only running ones in
   * v2 without `--all`, and `--all` adds one-off `run` containers in both, which
   * `containers.ts` leaves out by their label.
   */
  async containerIds(service: string): Promise<string[]> {
    const out = await this.run(['ps', '--all', '-q', service]);
    return out.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  }
}

/**
 * `supervisor.file` made absolute (relative to the install dir), and its directory, which
 * parako passes as --project-directory: compose reads `.env` (the project name) from there.
 */
export function projectOf(installDir: string, file: string): {file: string; projectDir: string} {
  const path = resolve(installDir, file);
  return {file: path, projectDir: dirname(path)};
}

/** A compose error on one line, short enough for the operator's terminal. */
export function excerpt(text: string, max = 500): string {
  const flat = text.replaceAll(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat || '(no output)';
}
