import type {Config, Interfaces} from '@oclif/core';
import {ModuleLoader} from '@oclif/core';

import type {HostConfig} from '../core/config.js';
import {HOOK_POINTS, type HookPoint} from '../sdk/contract.js';
import {ConfigError, HookError, messageOf} from '../core/errors.js';
import {backupFiles} from '../core/backup-file.js';
import {execCommand} from '../core/exec.js';
import {PluginError} from '../sdk/errors.js';
import {type InstallView, type Provider, type SupervisorView, validateSettings} from '../sdk/provider.js';
import type {Logger} from '../core/logger.js';
import {actsWhen, type Verdict} from './acts-when.js';
import type {HookContext, HookFunction} from './context.js';
import {resolvePluginImports} from './plugin-imports.js';

/** first-party: shipped inside this parako installation; installed, linked: from the plugin store. */
export type PluginOrigin = 'first-party' | 'installed' | 'linked';

/** One plugin's implementation of one hook point. */
export interface HookImplementation {
  point: HookPoint;
  plugin: string;
  version: string;
  origin: PluginOrigin;
  /** `parako.actsWhen` of the plugin's package.json, as found there; undefined when absent. */
  actsWhen?: unknown;
  load(): Promise<HookFunction>;
}

/** An implementation that does not act with this host's parako.json, and why. */
export interface IdleHook {
  hook: HookImplementation;
  why: string;
}

/** One plugin with hooks, and whether it acts with this host's parako.json. */
export interface PluginVerdict {
  plugin: string;
  version: string;
  origin: PluginOrigin;
  verdict: Verdict;
}

/** Default time each plugin gets at a hook point; `hooks.timeoutSeconds` overrides. */
export const DEFAULT_TIMEOUT_SECONDS: Record<HookPoint, number> = {
  'pre-download': 60,
  'post-verify': 60,
  'pre-swap': 3600,
  'post-swap': 120,
  restart: 600,
  health: 300,
  notify: 30,
};

/**
 * Finds the hooks of every plugin oclif loaded. oclif's own `config.runHook` runs plugins in
 * parallel and swallows their errors (oclif/core#393), so parako runs them itself.
 */
export function discoverHooks(config: Config): HookImplementation[] {
  const found: HookImplementation[] = [];
  for (const plugin of config.plugins.values()) {
    for (const point of HOOK_POINTS) {
      for (const hook of plugin.hooks[point] ?? []) {
        found.push({
          point,
          plugin: plugin.name,
          version: plugin.version,
          origin: originOf(plugin),
          actsWhen: declarationOf(plugin.pjson),
          load: async () => loadHook(plugin, hook),
        });
      }
    }
  }
  return found;
}

/** One plugin's provider module (`parako.provides` in its package.json): settings and capabilities. */
export interface ProviderImplementation {
  plugin: string;
  actsWhen?: unknown;
  load(): Promise<Provider>;
}

/** The provider modules of every plugin oclif loaded. */
export function discoverProviders(config: Config): ProviderImplementation[] {
  const found: ProviderImplementation[] = [];
  for (const plugin of config.plugins.values()) {
    const parako: unknown = plugin.pjson.parako;
    const target = parako !== null && typeof parako === 'object' ? (parako as {provides?: unknown}).provides : undefined;
    if (typeof target !== 'string') continue;
    found.push({plugin: plugin.name, actsWhen: declarationOf(plugin.pjson), load: async () => loadProvider(plugin, target)});
  }
  return found;
}

async function loadProvider(plugin: Interfaces.Plugin, target: string): Promise<Provider> {
  resolvePluginImports();
  const {module} = await ModuleLoader.loadWithData<Record<string, unknown>>(plugin, target);
  const provider = module.default;
  if (provider === null || typeof provider !== 'object') throw new Error(`${target} of ${plugin.name} has no default export made with defineProvider`);
  return provider as Provider;
}

function declarationOf(pjson: Interfaces.PJSON): unknown {
  const parako: unknown = pjson.parako;
  return parako !== null && typeof parako === 'object' ? (parako as {actsWhen?: unknown}).actsWhen : undefined;
}

function originOf(plugin: Interfaces.Plugin): PluginOrigin {
  if (plugin.type === 'link') return 'linked';
  if (plugin.type === 'user') return 'installed';
  return 'first-party';
}

async function loadHook(plugin: Interfaces.Plugin, hook: {target: string; identifier: string}): Promise<HookFunction> {
  resolvePluginImports();
  const {module} = await ModuleLoader.loadWithData<Record<string, unknown>>(plugin, hook.target);
  const candidate = module[hook.identifier] ?? (hook.identifier === 'default' ? module.default : undefined);
  if (typeof candidate !== 'function') {
    throw new Error(`${hook.target} exports no function "${hook.identifier}"`);
  }
  return candidate as HookFunction;
}

/** The fixed run order: first-party first, then by name, unless `hooks.order` says otherwise. */
export function orderHooks(hooks: HookImplementation[], order: string[] = []): HookImplementation[] {
  const rank = (hook: HookImplementation): [number, number, string] => {
    const explicit = order.indexOf(hook.plugin);
    if (explicit !== -1) return [0, explicit, hook.plugin];
    return [1, hook.origin === 'first-party' ? 0 : 1, hook.plugin];
  };
  return [...hooks].sort((a, b) => {
    const [ga, ia, na] = rank(a);
    const [gb, ib, nb] = rank(b);
    return ga - gb || ia - ib || na.localeCompare(nb);
  });
}

export interface HookRunnerOptions {
  log: Logger;
  /** This host's parako.json, or null without one: each plugin's `actsWhen` is judged against it. */
  config: HostConfig | null;
  /** Plugins the store lists but oclif could not load, or why the store is unreadable. */
  broken?: string;
  /** What to do about it, when there is a better word than "reinstall or relink it". */
  brokenNext?: string;
  order?: string[];
  timeoutSeconds?: Partial<Record<HookPoint, number>>;
  /** Provider modules (settings, capabilities); loaded by prepare() for the plugins that act. */
  providers?: ProviderImplementation[];
}

/** A provider that acts on this host, loaded, with its validated settings. */
interface ActiveProvider {
  plugin: string;
  provider: Provider;
  settings: unknown;
}

/** The part of a context the pipeline provides; the runner adds the per-plugin parts. */
export type BaseContext = Omit<HookContext, 'log' | 'signal' | 'point' | 'backups' | 'settings' | 'supervisor'> & {signal: AbortSignal};

export class HookRunner {
  private readonly hooks: Array<{hook: HookImplementation; verdict: Verdict}>;
  private active: ActiveProvider[] = [];

  constructor(hooks: HookImplementation[], private readonly options: HookRunnerOptions) {
    this.hooks = orderHooks(hooks, options.order).map((hook) => ({hook, verdict: actsWhen(hook.actsWhen, options.config)}));
  }

  /** The implementations of a point that act with this host's parako.json, in the order they run. */
  at(point: HookPoint): HookImplementation[] {
    return this.hooks.filter(({hook, verdict}) => hook.point === point && verdict.acts).map(({hook}) => hook);
  }

  /** The implementations of a point that stay idle with this host's parako.json, and why. */
  idleAt(point: HookPoint): IdleHook[] {
    return this.hooks.flatMap(({hook, verdict}) => (hook.point === point && !verdict.acts ? [{hook, why: verdict.why}] : []));
  }

  /** Every plugin with hooks once, in run order, with its verdict. */
  plugins(): PluginVerdict[] {
    const seen = new Map<string, PluginVerdict>();
    for (const {hook, verdict} of this.hooks) {
      if (!seen.has(hook.plugin)) seen.set(hook.plugin, {plugin: hook.plugin, version: hook.version, origin: hook.origin, verdict});
    }
    return [...seen.values()];
  }

  /** Plugins whose `actsWhen` declaration cannot be read: no point but notify runs while one is loaded. */
  problems(): Array<{plugin: string; why: string}> {
    return this.plugins().flatMap(({plugin, verdict}) => (!verdict.acts && verdict.problem === true ? [{plugin, why: verdict.why}] : []));
  }

  /**
   * Loads the provider of every plugin that acts with this parako.json and has each validate
   * its own section, and checks that some plugin acts on `supervisor.type` and `backup.type`.
   * Throws a ConfigError (exit 2) naming every key at fault, before anything is fetched.
   */
  async prepare(file: string): Promise<void> {
    const config = this.options.config;
    if (config === null) return;
    const problems: string[] = [];
    // A plugin the store lists but that was not loaded may be the one: the gating points say so (exit 6).
    for (const key of this.options.broken === undefined ? (['supervisor', 'backup'] as const) : []) {
      const type = config[key]?.type;
      if (type === undefined) continue;
      const known = this.declaredValues(`${key}.type`);
      if (!known.includes(type)) {
        problems.push(`${key}.type: no installed plugin acts on "${type}" (${known.length === 0 ? 'none acts on any' : `plugins act on ${known.map((value) => `"${value}"`).join(', ')}`}; parako hooks lists them)`);
      }
    }
    const active: ActiveProvider[] = [];
    for (const implementation of this.options.providers ?? []) {
      const verdict = actsWhen(implementation.actsWhen, config);
      if (!verdict.acts) continue;
      let provider: Provider;
      try {
        provider = await implementation.load();
      } catch (error) {
        throw new HookError('pre-download', implementation.plugin, `plugin ${implementation.plugin} cannot be loaded: ${messageOf(error)}`, {
          next: `reinstall it, or remove it with parako plugins uninstall ${implementation.plugin}`,
        });
      }
      const declared = provider.settings;
      if (declared === undefined) {
        active.push({plugin: implementation.plugin, provider, settings: undefined});
        continue;
      }
      const section = sectionAt(config, declared.key);
      if (section === undefined && declared.required === false) {
        active.push({plugin: implementation.plugin, provider, settings: undefined});
        continue;
      }
      const checked = await validateSettings(declared, section);
      if (checked.problems.length === 0) active.push({plugin: implementation.plugin, provider, settings: checked.value});
      else problems.push(...checked.problems);
    }
    if (problems.length > 0) {
      throw new ConfigError(`invalid ${file}:\n  ${problems.join('\n  ')}`, {next: 'fix the key(s) named above (docs/configuration.md, and the page of the plugin that owns the section)'});
    }
    this.active = active;
  }

  /** The settings the plugin's provider validated, or undefined. */
  settingsOf(plugin: string): unknown {
    return this.active.find((entry) => entry.plugin === plugin)?.settings;
  }

  /** The plugin that runs the service, as other plugins and the plan see it. */
  supervisorView(install: InstallView): SupervisorView | undefined {
    const entry = this.active.find((candidate) => candidate.provider.supervisor !== undefined);
    if (entry === undefined) return undefined;
    const capability = entry.provider.supervisor!;
    const where = {app: install.app, dir: install.dir};
    return {plugin: entry.plugin, describe: () => capability.describe(entry.settings, where), commands: () => capability.commands(entry.settings, where)};
  }

  /** The plugin that takes the database backup, and what it backs up. */
  backupView(install: InstallView): {plugin: string; describe: string} | undefined {
    const entry = this.active.find((candidate) => candidate.provider.backup !== undefined);
    if (entry === undefined) return undefined;
    return {plugin: entry.plugin, describe: entry.provider.backup!.describe(entry.settings, {app: install.app, dir: install.dir})};
  }

  /** Every value plugins declare for a parako.json key in their actsWhen (`supervisor.type` -> the supervisors plugins act on). */
  private declaredValues(key: string): string[] {
    const values = [...this.hooks.map(({hook}) => hook.actsWhen), ...(this.options.providers ?? []).map((provider) => provider.actsWhen)].flatMap((declaration) => {
      const value = declaration !== null && typeof declaration === 'object' ? (declaration as Record<string, unknown>)[key] : undefined;
      return typeof value === 'string' ? [value] : [];
    });
    return [...new Set(values)];
  }

  timeoutFor(point: HookPoint): number {
    return this.options.timeoutSeconds?.[point] ?? DEFAULT_TIMEOUT_SECONDS[point];
  }

  /**
   * Runs the plugins of one point one after another. A gating point stops at the first
   * failure (fail-closed); `notify` logs failures and goes on, since it must never change
   * the outcome.
   */
  async run(point: HookPoint, base: BaseContext): Promise<void> {
    if (this.options.broken !== undefined && point !== 'notify') {
      throw new HookError(point, 'plugin store', `${point} hooks cannot run as installed: ${this.options.broken}`, {
        next: this.options.brokenNext ?? 'parako hooks shows which; reinstall or relink it, or remove it with parako plugins uninstall <name>',
      });
    }
    // A plugin whose condition cannot be read may be the check this host relies on: fail closed.
    const unreadable = this.problems()[0];
    if (unreadable !== undefined && point !== 'notify') {
      throw new HookError(point, unreadable.plugin, `${point} hooks cannot run: plugin ${unreadable.plugin}: ${unreadable.why}`, {
        next: `fix parako.actsWhen in the package.json of ${unreadable.plugin} (docs/plugins/writing.md), or remove it with parako plugins uninstall ${unreadable.plugin}`,
      });
    }
    for (const hook of this.at(point)) {
      try {
        await this.runOne(hook, base);
      } catch (error) {
        if (point === 'notify') {
          this.options.log.error({plugin: hook.plugin, point, err: messageOf(error)}, 'notify hook failed; the outcome stands');
          continue;
        }
        throw error;
      }
    }
  }

  private async runOne(hook: HookImplementation, base: BaseContext): Promise<void> {
    const {point, plugin} = hook;
    const seconds = this.timeoutFor(point);
    const controller = new AbortController();
    const onOuterAbort = (): void => controller.abort(base.signal.reason);
    base.signal.addEventListener('abort', onOuterAbort, {once: true});
    const log = this.options.log.child({plugin, hook: point});
    const ctx: HookContext = {
      ...base,
      point,
      log,
      signal: controller.signal,
      // The plugin's programs die with its timeout, and their output lands in its own log.
      exec: (command, args, options = {}) => execCommand(command, args, {...options, log, signal: controller.signal}),
      say: (message) => base.say(`[${plugin}] ${message}`),
      backups: backupFiles({...base, point}, plugin),
      settings: this.settingsOf(plugin),
      supervisor: this.supervisorView(base),
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new HookError(point, plugin, `${point} hook of ${plugin} did not finish within ${seconds} s and was stopped`, {
          next: `fix or remove the plugin (parako hooks lists them), or raise hooks.timeoutSeconds.${point} in parako.json`,
        });
        controller.abort(error);
        reject(error);
      }, seconds * 1000);
    });
    const started = Date.now();
    log.info('hook start');
    // A plugin's own advice (PluginError's next) replaces the generic one.
    const nextFor = (error?: unknown): string =>
      [
        ...(error instanceof PluginError && error.next !== undefined
          ? [error.next]
          : [`fix what ${plugin} reports above`, `or remove the plugin (parako hooks lists plugins; parako plugins uninstall ${plugin} for an in-house one)`]),
        'nothing was changed unless the message says otherwise',
      ].join('; ');
    try {
      // Loading is inside the race too: a module whose top-level await hangs is stopped alike.
      const result = await Promise.race([hook.load().then((fn) => fn({ctx})), timedOut]);
      if (result !== undefined && result !== null && typeof result === 'object' && typeof result.veto === 'string') {
        // A veto is a decision (a maintenance window, a hold, a disk check), not a fault to fix.
        throw new HookError(point, plugin, `${point} hook of ${plugin} vetoed: ${result.veto}`, {
          next: `${plugin} said no on purpose: run this again when what it names is over, or change its settings (parako hooks lists the plugins and why each acts); nothing was changed unless the message says otherwise`,
        });
      }
      log.info({durationMs: Date.now() - started}, 'hook done');
    } catch (error) {
      if (error instanceof HookError) throw error;
      throw new HookError(point, plugin, `${point} hook of ${plugin} failed: ${messageOf(error)}`, {cause: error, next: nextFor(error)});
    } finally {
      clearTimeout(timer);
      base.signal.removeEventListener('abort', onOuterAbort);
    }
  }
}

/** The section at `key` of parako.json: `supervisor`, `backup`, or `plugins.<package name>`. */
function sectionAt(config: HostConfig, key: string): unknown {
  if (key.startsWith('plugins.')) return config.plugins?.[key.slice('plugins.'.length)];
  return (config as Record<string, unknown>)[key];
}

