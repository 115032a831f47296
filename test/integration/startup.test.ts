/**
 * Fast start (issue #14, docs/performance.md "Start-up"): the commands an operator types to
 * look around (`--version`, `status`, `hooks`) load no Sigstore, HTTP client, tar or logger
 * code; those are imported by the phases that need them. `--version` and plain `status` do not
 * load oclif either (bin/run.js, src/cli/fast-status.ts), and print what oclif's path prints. Checked by the modules a real CLI
 * process loads (test/fixtures/module-trace.mjs), not by a timing.
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {type CliResult, repoRoot, runParako} from '../fixtures/cli.js';
import {HOOK_POINTS} from '../../src/sdk/contract.js';
import {expectExit} from './helpers.js';

/** The packages that only downloading, verifying, staging and logging need. */
const HEAVY = ['@sigstore', 'undici', 'tar', 'pino'] as const;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parako-startup-'));
});

afterEach(async () => {
  await rm(dir, {recursive: true, force: true});
});

/** Runs `parako <args>` and returns its result with the packages (under node_modules) it loaded. */
async function traced(args: string[], env: Record<string, string> = {}): Promise<{result: CliResult; packages: Set<string>}> {
  const trace = join(dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
  await writeFile(trace, '');
  const hook = pathToFileURL(join(repoRoot, 'test', 'fixtures', 'module-trace.mjs')).href;
  const result = await runParako(args, {env: {...env, NODE_OPTIONS: `--import ${hook}`, PARAKO_TEST_MODULE_TRACE: trace}});
  const packages = new Set<string>();
  for (const path of (await readFile(trace, 'utf8')).split('\n')) {
    const name = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
    if (name !== undefined) packages.add(name);
  }
  return {result, packages};
}

function heavyIn(packages: Set<string>): string[] {
  return HEAVY.filter((heavy) => [...packages].some((name) => name === heavy || name.startsWith(`${heavy}/`)));
}

describe('start-up loads only what the command uses', () => {
  it('parako --version loads neither oclif nor any heavy package, and prints what oclif prints', async () => {
    const {result, packages} = await traced(['--version']);
    expectExit(result, 0);
    expect(heavyIn(packages)).toEqual([]);
    expect(packages.has('@oclif/core')).toBe(false);
    // PARAKO_UNCHECKED_PLUGINS sends --version through oclif (Config.load, its userAgent).
    const viaOclif = await traced(['--version'], {PARAKO_UNCHECKED_PLUGINS: '1'});
    expectExit(viaOclif.result, 0);
    expect(viaOclif.packages.has('@oclif/core')).toBe(true);
    expect(result.stdout).toBe(viaOclif.result.stdout);
    expect(result.stdout).toMatch(/^parako\/\d+\.\d+\.\d+\S* linux-\S+ node-v\d+\.\d+\.\d+\n$/);
  });

  it('parako status loads neither oclif nor any heavy package, and prints what the oclif command prints', async () => {
    for (const args of [['status', '--dir', dir], ['status', `--dir=${dir}`, '--json', '--log-level', 'info']]) {
      const {result, packages} = await traced(args);
      expectExit(result, 0);
      expect(heavyIn(packages)).toEqual([]);
      expect(packages.has('@oclif/core')).toBe(false);
      // PARAKO_UNCHECKED_PLUGINS sends status through oclif, as a plugin store does.
      const viaOclif = await traced(args, {PARAKO_UNCHECKED_PLUGINS: '1'});
      expectExit(viaOclif.result, 0);
      expect(viaOclif.packages.has('@oclif/core')).toBe(true);
      expect(result.stdout).toBe(viaOclif.result.stdout);
      expect(result.stdout).toContain(dir);
    }
  });

  it('parako status with arguments the fast path does not take goes through oclif, with its help and its usage errors', async () => {
    const help = await traced(['status', '--help']);
    expectExit(help.result, 0);
    expect(help.packages.has('@oclif/core')).toBe(true);
    expect(help.result.stdout).toContain('USAGE');
    const unknown = await traced(['status', '--dir', dir, '--colour']);
    expectExit(unknown.result, 2);
    expect(unknown.packages.has('@oclif/core')).toBe(true);
    expect(unknown.result.stderr).toContain('--colour');
    const badLevel = await traced(['status', '--log-level', 'loud']);
    expectExit(badLevel.result, 2);
    expect(badLevel.packages.has('@oclif/core')).toBe(true);
  });

  it('parako hooks loads no heavy package, with and without a parako.json', async () => {
    const bare = await traced(['hooks', '--dir', dir]);
    expectExit(bare.result, 0);
    expect(bare.result.stdout).toContain('@parako/plugin-systemd');
    expect(heavyIn(bare.packages)).toEqual([]);

    await writeFile(join(dir, 'parako.json'), JSON.stringify({app: 'demo', source: {index: 'http://127.0.0.1:9/index.json'}, verify: {key: join(dir, 'cosign.pub')}, supervisor: {type: 'systemd', units: ['demo.service']}}));
    const configured = await traced(['hooks', '--dir', dir]);
    expectExit(configured.result, 0);
    expect(configured.result.stdout).toMatch(/@parako\/plugin-systemd\s+\S+\s+first-party\s+acts/);
    expect(heavyIn(configured.packages)).toEqual([]);
  });

  // The check above would pass with a trace that saw nothing: update's module graph holds them all.
  it('the trace sees the heavy packages a command does load; update loads sigstore and tar only in the phases that use them', async () => {
    const verify = await traced(['verify', join(dir, 'none.tar.gz'), '--key', join(dir, 'none.pub')]);
    expect(heavyIn(verify.packages)).toEqual(expect.arrayContaining(['@sigstore']));
    // Stopped at the config (no parako.json here): nothing heavy; undici comes with the HTTP client.
    const early = await traced(['update', '--dir', dir]);
    expectExit(early.result, 2);
    expect(heavyIn(early.packages)).toEqual([]);
    // Stopped at the index (nothing listens on port 9): the HTTP client and the logger, nothing to verify or extract.
    await writeFile(join(dir, 'parako.json'), JSON.stringify({app: 'demo', source: {index: 'http://127.0.0.1:9/index.json'}, verify: {key: join(dir, 'cosign.pub')}}));
    const atIndex = await traced(['update', '--dir', dir]);
    expectExit(atIndex.result, 3);
    expect(heavyIn(atIndex.packages)).toEqual(['undici', 'pino']);
  });
});

const pjson = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {oclif: {plugins: string[]; hooks?: Record<string, unknown>}};

describe('what the --version shortcut and the deferred plugin resolver rely on', () => {
  it('no bundled plugin has an oclif init, prerun, postrun or finally hook, which oclif would run for --version or status', async () => {
    const declared: Record<string, string[]> = {parako: Object.keys(pjson.oclif.hooks ?? {})};
    for (const name of pjson.oclif.plugins) {
      const plugin = JSON.parse(await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as {oclif?: {hooks?: Record<string, unknown>}};
      declared[name] = Object.keys(plugin.oclif?.hooks ?? {});
    }
    for (const [name, hooks] of Object.entries(declared)) expect({name, hooks: hooks.filter((hook) => ['init', 'prerun', 'postrun', 'finally'].includes(hook))}).toEqual({name, hooks: []});
  });

  it("bundled parako plugins bring only hook points and providers, which parako's hook runner loads", async () => {
    // oclif imports a plugin's commands and its oclif hooks itself, before the hook runner could
    // register the resolver for `import … from 'parako'` (src/hooks/plugin-imports.ts).
    for (const name of pjson.oclif.plugins.filter((plugin) => !plugin.startsWith('@oclif/'))) {
      const plugin = JSON.parse(await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as {oclif?: {hooks?: Record<string, unknown>; commands?: unknown}};
      expect({name, commands: plugin.oclif?.commands}).toEqual({name, commands: undefined});
      expect({name, hooks: Object.keys(plugin.oclif?.hooks ?? {}).filter((hook) => !(HOOK_POINTS as readonly string[]).includes(hook))}).toEqual({name, hooks: []});
    }
  });
});
