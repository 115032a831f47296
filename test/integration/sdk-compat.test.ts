/**
 * An in-house plugin written against parako 0.1.0's documented API (docs/hooks.md and
 * src/index.ts as 0.1.0 shipped them) still loads and runs: its JavaScript hooks import
 * `defineHook`, `HOOK_POINTS`, `HookError` and `prepareBackupFile` from 'parako' and read their
 * settings from `ctx.config.plugins`, linked into a real `parako update`; and TypeScript written
 * against 0.1.0's exported types still compiles against today's 'parako' (CHANGELOG.md,
 * "For plugin authors").
 */
import {execFile} from 'node:child_process';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {repoRoot} from '../fixtures/cli.js';
import type {SignedWorld} from '../fixtures/signed-world.js';
import {currentTarget, expectExit, jsonOf, parako, useInstalledWorlds} from './helpers.js';

const NAME = 'parako-plugin-legacy';

/** The plugin as an author wrote it for 0.1.0: plain ESM, settings under plugins.<name>. */
const HOOKS: Record<string, string> = {
  'pre-swap': `
import {writeFile} from 'node:fs/promises';
import {defineHook, HOOK_POINTS, prepareBackupFile} from 'parako';

export default defineHook('pre-swap', async ({ctx}) => {
  if (!ctx.backup?.wanted) return;
  const settings = ctx.config.plugins?.[${JSON.stringify(NAME)}] ?? {};
  const target = await prepareBackupFile({dir: ctx.dir, backupDir: ctx.config.backupDir, app: ctx.app, version: ctx.to.version, ext: 'txt'});
  await writeFile(target.tempPath, 'legacy dump of ' + settings.database + '\\n');
  const size = await target.commit();
  ctx.record('backup', {plugin: ${JSON.stringify(NAME)}, path: target.path, restore: 'cat ' + target.path, size});
  ctx.log.info({path: target.path}, 'legacy backup taken');
  ctx.say('legacy backup of ' + settings.database + ' taken (' + HOOK_POINTS.length + ' hook points)');
});
`,
  health: `
import {defineHook, HookError} from 'parako';

export default defineHook('health', async ({ctx}) => {
  const settings = ctx.config.plugins?.[${JSON.stringify(NAME)}] ?? {};
  if (settings.failVersion === ctx.to.version) {
    throw new HookError(ctx.point, ${JSON.stringify(NAME)}, 'the legacy probe says v' + ctx.to.version + ' is down', {next: 'look at the legacy probe'});
  }
});
`,
  notify: `
import {writeFile} from 'node:fs/promises';
import {defineHook} from 'parako';

export default defineHook('notify', async ({ctx}) => {
  const settings = ctx.config.plugins?.[${JSON.stringify(NAME)}] ?? {};
  await writeFile(settings.outcomeFile, JSON.stringify(ctx.outcome));
});
`,
};

/** TypeScript against 0.1.0's exports: its names for the logger and the config, its error classes and backup helpers. */
const TYPED_SOURCE = `
import {type BackupTarget, defineHook, HookError, type HookContext, type HookFunction, type HostConfig, type Logger, ParakoError, prepareBackupFile, type VerifyPolicy} from 'parako';

function settingsOf(config: HostConfig): {database?: string} {
  return (config.plugins?.['${NAME}'] ?? {}) as {database?: string};
}

function logTo(log: Logger, what: string): void {
  log.info({what}, 'typed against 0.1.0');
}

export const preSwap: HookFunction = defineHook('pre-swap', async ({ctx}) => {
  const target: BackupTarget = await prepareBackupFile({dir: ctx.dir, app: ctx.app, version: ctx.to.version, ext: 'txt'});
  logTo(ctx.log, settingsOf(ctx.config).database ?? target.path);
  const policy: VerifyPolicy | undefined = undefined;
  if (policy !== undefined) throw new HookError(ctx.point, '${NAME}', 'unreachable');
});

export function isParakos(error: unknown, ctx: HookContext): boolean {
  return error instanceof ParakoError && ctx.point === 'notify';
}
`;

const worlds = useInstalledWorlds();
let pluginDir: string;

beforeAll(async () => {
  pluginDir = await mkdtemp(join(tmpdir(), 'parako-legacy-plugin-'));
});
afterAll(async () => {
  await rm(pluginDir, {recursive: true, force: true});
});

/** The plugin's folder and a data dir that links it, as `parako plugins link` writes it. */
async function linkLegacyPlugin(root: string): Promise<Record<string, string>> {
  const pluginRoot = join(pluginDir, NAME);
  await mkdir(join(pluginRoot, 'hooks'), {recursive: true});
  const hooks = Object.fromEntries(Object.keys(HOOKS).map((point) => [point, `./hooks/${point}.js`]));
  await writeFile(join(pluginRoot, 'package.json'), JSON.stringify({name: NAME, version: '0.1.0', type: 'module', oclif: {hooks}}, null, 2));
  for (const [point, source] of Object.entries(HOOKS)) await writeFile(join(pluginRoot, 'hooks', `${point}.js`), source);
  const dataDir = join(root, 'oclif-data');
  await mkdir(dataDir, {recursive: true});
  await writeFile(join(dataDir, 'package.json'), JSON.stringify({private: true, oclif: {schema: 1, plugins: [{type: 'link', name: NAME, root: pluginRoot}]}}, null, 2));
  return {PARAKO_DATA_DIR: dataDir};
}

async function worldWithUpdate(settings: Record<string, unknown>): Promise<{world: SignedWorld; env: Record<string, string>; outcomeFile: string}> {
  const world = await worlds.installed();
  const outcomeFile = join(world.root, 'outcome.json');
  await world.writeConfig({plugins: {[NAME]: {outcomeFile, ...settings}}});
  await world.publish({version: '1.1.0'});
  return {world, env: await linkLegacyPlugin(world.root), outcomeFile};
}

describe('a plugin written against 0.1.0', () => {
  it('takes its backup with prepareBackupFile, records it, and is told the outcome', async () => {
    const {world, env, outcomeFile} = await worldWithUpdate({database: 'shop'});
    const result = await parako(world, ['update', '--backup'], {env});
    expectExit(result, 0);
    expect(result.stdout).toContain(`[${NAME}] legacy backup of shop taken (7 hook points)`);
    expect(await currentTarget(world)).toBe('releases/v1.1.0');
    const outcome = JSON.parse(await readFile(outcomeFile, 'utf8')) as {outcome: string; backup: {plugin: string; path: string; restore: string; size: number}};
    expect(outcome.outcome).toBe('updated');
    expect(outcome.backup).toMatchObject({plugin: NAME, path: expect.stringMatching(new RegExp(`^${world.dir}/backups/demo-app-pre-v1\\.1\\.0-.*\\.txt$`)), size: 'legacy dump of shop\n'.length});
    expect(await readFile(outcome.backup.path, 'utf8')).toBe('legacy dump of shop\n');
    const status = jsonOf(await parako(world, ['status', '--json'], {env}));
    expect(JSON.stringify(status)).toContain(outcome.backup.restore);
  });

  it('fails a health check by throwing HookError, and the update rolls back with its message', async () => {
    const {world, env, outcomeFile} = await worldWithUpdate({failVersion: '1.1.0'});
    const result = await parako(world, ['update', '--json'], {env});
    expectExit(result, 7);
    expect(jsonOf(result)).toMatchObject({outcome: 'auto-rolled-back', reason: 'rolled-back'});
    expect(String(jsonOf(result).message)).toContain('the legacy probe says v1.1.0 is down');
    expect(await currentTarget(world)).toBe('releases/v1.0.0');
    expect(JSON.parse(await readFile(outcomeFile, 'utf8'))).toMatchObject({outcome: 'auto-rolled-back', code: 7});
  });

  it('written in TypeScript against 0.1.0 types, still compiles against this parako', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parako-legacy-ts-'));
    try {
      await writeFile(join(dir, 'hooks.ts'), TYPED_SOURCE);
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: true,
            types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
            paths: {parako: [join(repoRoot, 'src', 'index.ts')]},
          },
          files: ['hooks.ts'],
        }),
      );
      await writeFile(join(dir, 'package.json'), '{"type": "module"}');
      const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
      const compiled = await promisify(execFile)(tsc, ['-p', join(dir, 'tsconfig.json')]).then(
        () => ({code: 0, output: ''}),
        (error: {code?: number; stdout?: string}) => ({code: error.code ?? 1, output: error.stdout ?? ''}),
      );
      expect(compiled, compiled.output).toEqual({code: 0, output: ''});
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
