import pino from 'pino';
import {describe, expect, it} from 'vitest';

import {z} from 'zod';

import {ConfigError, HookError} from '../../src/core/errors.js';
import {PluginError} from '../../src/sdk/errors.js';
import {defineProvider, type Provider} from '../../src/sdk/provider.js';
import type {HookFunction} from '../../src/hooks/context.js';
import {type BaseContext, type HookImplementation, HookRunner, type PluginOrigin} from '../../src/hooks/runner.js';
import type {HookPoint, HostConfig} from '../../src/core/config.js';

const log = pino({level: 'silent'});

function hook(plugin: string, point: HookPoint, fn: HookFunction, origin: PluginOrigin = 'installed', actsWhen?: unknown): HookImplementation {
  return {plugin, point, version: '1.0.0', origin, actsWhen, load: async () => fn};
}

const pm2Host = {app: 'app', supervisor: {type: 'pm2', apps: ['web']}} as unknown as HostConfig;

function base(): BaseContext {
  return {
    operation: 'update', dryRun: false, app: 'app', dir: '/opt/app', to: {version: '1.0.0', path: '/opt/app/releases/v1.0.0'},
    config: {} as BaseContext['config'], signal: new AbortController().signal,
    exec: async () => ({code: 0, stdout: '', stderr: ''}), record: () => undefined, say: () => undefined,
  };
}

describe('hook runner', () => {
  it('runs plugins one after another: first-party first, then by name, unless hooks.order says otherwise', async () => {
    const ran: string[] = [];
    const make = (name: string, origin: PluginOrigin = 'installed') =>
      hook(name, 'pre-swap', async () => {
        ran.push(`${name}:start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        ran.push(`${name}:end`);
      }, origin);
    const hooks = [make('zeta'), make('@parako/plugin-backup-postgres', 'first-party'), make('alpha')];
    await new HookRunner(hooks, {log, config: null}).run('pre-swap', base());
    expect(ran).toEqual(['@parako/plugin-backup-postgres:start', '@parako/plugin-backup-postgres:end', 'alpha:start', 'alpha:end', 'zeta:start', 'zeta:end']);
    ran.length = 0;
    await new HookRunner(hooks, {log, config: null, order: ['zeta']}).run('pre-swap', base());
    expect(ran.filter((r) => r.endsWith(':start'))).toEqual(['zeta:start', '@parako/plugin-backup-postgres:start', 'alpha:start']);
  });

  it('stops a gating point at the first failure, naming the plugin and the point', async () => {
    const ran: string[] = [];
    const hooks = [
      hook('a-veto', 'pre-swap', () => ({veto: 'maintenance window closed'})),
      hook('b-later', 'pre-swap', () => {
        ran.push('b');
      }),
    ];
    const error = await new HookRunner(hooks, {log, config: null}).run('pre-swap', base()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookError);
    expect((error as HookError).plugin).toBe('a-veto');
    expect((error as Error).message).toBe('pre-swap hook of a-veto vetoed: maintenance window closed');
    expect(ran).toEqual([]);
  });

  it('turns a thrown error into a HookError with exit code 6', async () => {
    const hooks = [hook('thrower', 'post-verify', () => {
      throw new Error('disk check failed');
    })];
    const error = await new HookRunner(hooks, {log, config: null}).run('post-verify', base()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookError);
    expect((error as HookError).code).toBe(6);
    expect((error as Error).message).toContain('post-verify hook of thrower failed: disk check failed');
  });

  it('stops a hook that hangs at its timeout and aborts its signal', async () => {
    let aborted = false;
    const hooks = [hook('hangs', 'pre-download', ({ctx}) => new Promise<void>(() => {
      ctx.signal.addEventListener('abort', () => {
        aborted = true;
      });
    }))];
    const runner = new HookRunner(hooks, {log, config: null, timeoutSeconds: {'pre-download': 0.1}});
    const started = Date.now();
    const error = await runner.run('pre-download', base()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((error as Error).message).toContain('did not finish within 0.1 s');
    expect(aborted).toBe(true);
  });

  it('stops the programs a hook started with ctx.exec at its timeout', async () => {
    let pid: number | undefined;
    const hooks = [hook('waits', 'pre-download', async ({ctx}) => {
      // A shell that reports its pid, then waits on a child of its own.
      await ctx.exec('/bin/sh', ['-c', 'echo $$; exec sleep 30'], {onOutput: (line) => (pid = Number(line))});
    })];
    const runner = new HookRunner(hooks, {log, config: null, timeoutSeconds: {'pre-download': 0.5}});
    const error = await runner.run('pre-download', base()).catch((e: unknown) => e);
    expect((error as Error).message).toContain('did not finish within 0.5 s');
    expect(pid).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(() => process.kill(pid!, 0)).toThrow(); // ESRCH: the program is gone
  });

  it("prefixes what a hook says with its plugin's name, and passes on a PluginError's advice", async () => {
    const said: string[] = [];
    const hooks = [hook('acme-window', 'pre-download', ({ctx}) => {
      ctx.say('outside the maintenance window');
      throw new PluginError('updates run 02:00-04:00 only', {next: 'wait for the window, or set plugins.acme-window.force'});
    })];
    const error = await new HookRunner(hooks, {log, config: null}).run('pre-download', {...base(), say: (line) => said.push(line)}).catch((e: unknown) => e);
    expect(said).toEqual(['[acme-window] outside the maintenance window']);
    expect((error as HookError).message).toBe('pre-download hook of acme-window failed: updates run 02:00-04:00 only');
    expect((error as HookError).next).toBe('wait for the window, or set plugins.acme-window.force; nothing was changed unless the message says otherwise');
  });

  it('never lets a failing notify hook stop the others or change the outcome', async () => {
    const ran: string[] = [];
    const hooks = [
      hook('a-broken', 'notify', () => {
        throw new Error('webhook down');
      }),
      hook('b-works', 'notify', () => {
        ran.push('b');
      }),
    ];
    await expect(new HookRunner(hooks, {log, config: null}).run('notify', base())).resolves.toBeUndefined();
    expect(ran).toEqual(['b']);
  });

  it('gives each plugin the context, a logger named after it, and the point', async () => {
    let seen: {point?: string; app?: string; to?: string} = {};
    const hooks = [hook('inspector', 'post-swap', ({ctx}) => {
      seen = {point: ctx.point, app: ctx.app, to: ctx.to.version};
      ctx.log.info('hello');
    })];
    await new HookRunner(hooks, {log, config: null}).run('post-swap', base());
    expect(seen).toEqual({point: 'post-swap', app: 'app', to: '1.0.0'});
  });

  it('runs only the plugins that act with parako.json: an idle plugin is never even loaded', async () => {
    const ran: string[] = [];
    const loaded: string[] = [];
    const supervisor = (name: string, type: string): HookImplementation => {
      const implementation = hook(name, 'restart', () => {
        ran.push(name);
      }, 'first-party', {'supervisor.type': type});
      const load = async (): Promise<HookFunction> => {
        loaded.push(name);
        return implementation.load();
      };
      return {...implementation, load};
    };
    const hooks = [supervisor('@parako/plugin-systemd', 'systemd'), supervisor('@parako/plugin-pm2', 'pm2'), hook('in-house', 'restart', () => {
      ran.push('in-house');
    })];
    const runner = new HookRunner(hooks, {log, config: pm2Host});
    expect(runner.at('restart').map((h) => h.plugin)).toEqual(['@parako/plugin-pm2', 'in-house']);
    expect(runner.idleAt('restart').map(({hook: h, why}) => [h.plugin, why])).toEqual([
      ['@parako/plugin-systemd', 'supervisor.type is "pm2" in parako.json, this plugin acts when it is "systemd"'],
    ]);
    await runner.run('restart', base());
    expect(ran).toEqual(['@parako/plugin-pm2', 'in-house']);
    expect(loaded).toEqual(['@parako/plugin-pm2']);

    // Without a parako.json, only the plugin that declares no condition acts.
    const bare = new HookRunner(hooks, {log, config: null});
    expect(bare.at('restart').map((h) => h.plugin)).toEqual(['in-house']);
    expect(bare.plugins().map(({plugin, verdict}) => [plugin, verdict.acts])).toEqual([
      ['@parako/plugin-pm2', false],
      ['@parako/plugin-systemd', false],
      ['in-house', true],
    ]);
  });

  it('a plugin whose actsWhen cannot be read stops every gating point, naming it; notify still runs', async () => {
    const ran: string[] = [];
    const hooks = [
      hook('garbled', 'health', () => {
        ran.push('garbled');
      }, 'linked', {'supervisor.type': ['pm2']}),
      hook('fine', 'pre-download', () => {
        ran.push('fine');
      }),
      hook('fine', 'notify', () => {
        ran.push('notify');
      }),
    ];
    const runner = new HookRunner(hooks, {log, config: pm2Host});
    expect(runner.problems()).toEqual([{plugin: 'garbled', why: expect.stringContaining('parako.actsWhen {"supervisor.type":["pm2"]}')}]);
    const error = await runner.run('pre-download', base()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookError);
    expect((error as HookError).plugin).toBe('garbled');
    expect((error as Error).message).toContain('pre-download hooks cannot run: plugin garbled: its package.json has parako.actsWhen');
    await runner.run('notify', base());
    expect(ran).toEqual(['notify']);
  });
});

describe('hook runner: providers', () => {
  const schema = z.strictObject({type: z.literal('runit'), services: z.array(z.string().min(1)).min(1)});
  const runit = defineProvider({
    settings: {key: 'supervisor', schema},
    supervisor: {
      describe: (settings: z.output<typeof schema>) => settings.services.map((service) => `runit service ${service}`),
      commands: (settings: z.output<typeof schema>) => ({stop: `sv down ${settings.services.join(' ')}`, start: `sv up ${settings.services.join(' ')}`, restart: `sv restart ${settings.services.join(' ')}`}),
    },
  });
  const actsWhen = {'supervisor.type': 'runit'};
  const providers = [{plugin: 'parako-plugin-runit', actsWhen, load: async () => runit as Provider}];
  const host = (supervisor: Record<string, unknown>) => ({app: 'app', supervisor} as unknown as HostConfig);

  it('hands each hook its own validated section, and other plugins the supervisor it provides', async () => {
    const seen: Record<string, unknown> = {};
    const hooks = [
      hook('parako-plugin-runit', 'restart', ({ctx}) => void (seen.settings = ctx.settings), 'installed', actsWhen),
      hook('parako-plugin-db', 'restart', ({ctx}) => void Object.assign(seen, {plan: ctx.supervisor?.describe(), commands: ctx.supervisor?.commands(), own: ctx.settings})),
    ];
    const runner = new HookRunner(hooks, {log, config: host({type: 'runit', services: ['web']}), providers});
    await runner.prepare('/opt/app/parako.json');
    await runner.run('restart', base());
    expect(seen).toEqual({settings: {type: 'runit', services: ['web']}, plan: ['runit service web'], commands: {stop: 'sv down web', start: 'sv up web', restart: 'sv restart web'}, own: undefined});
    expect(runner.supervisorView({app: 'app', dir: '/opt/app'})?.plugin).toBe('parako-plugin-runit');
  });

  it('refuses a section its plugin refuses, naming every key (exit 2)', async () => {
    const runner = new HookRunner([], {log, config: host({type: 'runit', services: [], extra: 1}), providers});
    const error = await runner.prepare('/opt/app/parako.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe(2);
    expect((error as Error).message).toMatch(/^invalid \/opt\/app\/parako\.json:\n {2}supervisor: .*"extra"|supervisor\.services: /m);
    expect((error as Error).message).toContain('supervisor.services: ');
  });

  it('refuses a supervisor.type no installed plugin acts on, naming those that do', async () => {
    const runner = new HookRunner([], {log, config: host({type: 'sytemd'}), providers});
    const error = await runner.prepare('/opt/app/parako.json').catch((e: unknown) => e);
    expect((error as Error).message).toContain('supervisor.type: no installed plugin acts on "sytemd" (plugins act on "runit"; parako hooks lists them)');
  });
});
