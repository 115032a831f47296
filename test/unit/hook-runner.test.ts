import pino from 'pino';
import {describe, expect, it} from 'vitest';

import {HookError} from '../../src/core/errors.js';
import type {HookFunction} from '../../src/hooks/context.js';
import {type BaseContext, type HookImplementation, HookRunner, type PluginOrigin} from '../../src/hooks/runner.js';
import type {HookPoint} from '../../src/core/config.js';

const log = pino({level: 'silent'});

function hook(plugin: string, point: HookPoint, fn: HookFunction, origin: PluginOrigin = 'installed'): HookImplementation {
  return {plugin, point, version: '1.0.0', origin, load: async () => fn};
}

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
    await new HookRunner(hooks, {log}).run('pre-swap', base());
    expect(ran).toEqual(['@parako/plugin-backup-postgres:start', '@parako/plugin-backup-postgres:end', 'alpha:start', 'alpha:end', 'zeta:start', 'zeta:end']);
    ran.length = 0;
    await new HookRunner(hooks, {log, order: ['zeta']}).run('pre-swap', base());
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
    const error = await new HookRunner(hooks, {log}).run('pre-swap', base()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookError);
    expect((error as HookError).plugin).toBe('a-veto');
    expect((error as Error).message).toBe('pre-swap hook of a-veto vetoed: maintenance window closed');
    expect(ran).toEqual([]);
  });

  it('turns a thrown error into a HookError with exit code 6', async () => {
    const hooks = [hook('thrower', 'post-verify', () => {
      throw new Error('disk check failed');
    })];
    const error = await new HookRunner(hooks, {log}).run('post-verify', base()).catch((e: unknown) => e);
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
    const runner = new HookRunner(hooks, {log, timeoutSeconds: {'pre-download': 0.1}});
    const started = Date.now();
    const error = await runner.run('pre-download', base()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((error as Error).message).toContain('did not finish within 0.1 s');
    expect(aborted).toBe(true);
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
    await expect(new HookRunner(hooks, {log}).run('notify', base())).resolves.toBeUndefined();
    expect(ran).toEqual(['b']);
  });

  it('gives each plugin the context, a logger named after it, and the point', async () => {
    let seen: {point?: string; app?: string; to?: string} = {};
    const hooks = [hook('inspector', 'post-swap', ({ctx}) => {
      seen = {point: ctx.point, app: ctx.app, to: ctx.to.version};
      ctx.log.info('hello');
    })];
    await new HookRunner(hooks, {log}).run('post-swap', base());
    expect(seen).toEqual({point: 'post-swap', app: 'app', to: '1.0.0'});
  });
});
