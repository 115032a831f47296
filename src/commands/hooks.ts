import {access} from 'node:fs/promises';
import {join} from 'node:path';

import {ParakoCommand} from '../cli/base.js';
import {CONFIG_FILE, HOOK_POINTS, type HookPoint, type HostConfig, loadConfig} from '../core/config.js';
import {Layout} from '../core/layout.js';
import type {Logger} from '../core/logger.js';
import type {OperationResult} from '../core/operation.js';
import {describeVerdict} from '../hooks/acts-when.js';
import {discoverHooks, HookRunner, type PluginOrigin} from '../hooks/runner.js';
import {trustReport, UNCHECKED_PLUGINS_ENV} from '../hooks/plugin-trust.js';
import {type UnloadedPlugin, unloadedPlugins} from '../hooks/store.js';

/** One plugin at one hook point, as `parako hooks --json` lists it. */
export interface ListedHook {
  plugin: string;
  version: string;
  origin: PluginOrigin;
  root: string;
  /** Whether it runs with this host's parako.json (its package.json's parako.actsWhen). */
  acts: boolean;
  /** Why not, when it does not. */
  idle?: string;
}

/** One plugin with hooks, once, with its verdict for this host. */
export interface ListedPlugin extends ListedHook {
  /** The verdict in one phrase: "acts: …", "acts on every run: …", "idle: …" or "PROBLEM: …". */
  verdict: string;
  /**
   * Who can change its files: "root-only" (an installed or linked plugin that passed the check
   * before it was loaded), "part of parako" (shipped in parako's own folder), or "not checked"
   * (PARAKO_UNCHECKED_PLUGINS=1). A plugin that fails the check is not loaded: see notLoaded.
   */
  files: 'root-only' | 'part of parako' | 'not checked';
}

export default class Hooks extends ParakoCommand {
  static override summary = 'Which plugin implements which hook point, in run order, with its timeout, and whether it acts on this host';
  static override description =
    "Lists every hook point in pipeline order and the plugins that run there, in the order they run: first-party first, then by name, unless hooks.order in parako.json says otherwise. A plugin that declares parako.actsWhen in its package.json acts only when this host's parako.json matches it; the others are listed as idle, with the reason. Works without a parako.json (then the default order and timeouts apply, and every plugin that declares a condition is idle).";
  static override examples = ['<%= config.bin %> hooks', '<%= config.bin %> hooks --dir /opt/parako-id --json'];

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Hooks);
    const layout = new Layout(flags.dir);
    const configFile = join(layout.dir, CONFIG_FILE);
    const config = await loadOptionalConfig(layout.dir, configFile);
    let log: Logger | undefined;
    const createLog = (): Logger => this.logger(flags, layout, false);
    const runner = new HookRunner(discoverHooks(this.config), {
      // Listing runs no hook, so nothing is logged: the logger (and pino) is made only if asked for.
      get log(): Logger {
        return (log ??= createLog());
      },
      config,
      order: config?.hooks?.order,
      timeoutSeconds: config?.hooks?.timeoutSeconds,
    });

    const rootOf = (plugin: string): string => this.config.plugins.get(plugin)?.root ?? '';
    const hooks = {} as Record<HookPoint, ListedHook[]>;
    const timeoutSeconds = {} as Record<HookPoint, number>;
    for (const point of HOOK_POINTS) {
      timeoutSeconds[point] = runner.timeoutFor(point);
      // Those that run, in run order; then those that stay idle on this host.
      hooks[point] = [
        ...runner.at(point).map(({plugin, version, origin}) => ({plugin, version, origin, root: rootOf(plugin), acts: true})),
        ...runner.idleAt(point).map(({hook: {plugin, version, origin}, why}) => ({plugin, version, origin, root: rootOf(plugin), acts: false, idle: why})),
      ];
    }
    const trust = trustReport(this.config.dataDir);
    const plugins: ListedPlugin[] = runner.plugins().map(({plugin, version, origin, verdict}) => ({
      plugin,
      version,
      origin,
      root: rootOf(plugin),
      acts: verdict.acts,
      ...(verdict.acts ? {} : {idle: verdict.why}),
      verdict: describeVerdict(verdict),
      files: origin === 'installed' || origin === 'linked' ? (trust.unchecked ? 'not checked' : 'root-only') : 'part of parako',
    }));
    const order = config?.hooks?.order ?? null;
    const loaded = new Set([...this.config.plugins.keys()]);
    const store = await unloadedPlugins(this.config.dataDir, loaded);
    const notLoaded = store.plugins;
    const notInstalled = (order ?? []).filter((name) => !loaded.has(name) && !notLoaded.some((entry) => entry.plugin === name));

    this.terminal.say(
      render({filesCheck: trust.unchecked ? 'off' : 'on', hooks, plugins, problems: runner.problems(), timeoutSeconds, order, notInstalled, notLoaded, storeProblem: store.problem, configFile: config === null ? null : configFile, dir: layout.dir, dataDir: this.config.dataDir}),
    );
    return {
      code: 0,
      outcome: 'status',
      message: '',
      from: null,
      to: null,
      hooks,
      plugins,
      timeoutSeconds,
      order,
      config: config === null ? null : configFile,
      dataDir: this.config.dataDir,
      notLoaded,
      filesCheck: trust.unchecked ? 'off' : 'on',
    };
  }
}

/** The host config, or null when the install dir has none (then no hooks.order applies). */
async function loadOptionalConfig(dir: string, file: string): Promise<HostConfig | null> {
  try {
    await access(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  // A config that exists but is invalid is an error here as everywhere: update would refuse it too.
  return loadConfig(dir);
}

interface Listing {
  filesCheck: 'on' | 'off';
  hooks: Record<HookPoint, ListedHook[]>;
  plugins: ListedPlugin[];
  problems: Array<{plugin: string; why: string}>;
  timeoutSeconds: Record<HookPoint, number>;
  order: string[] | null;
  notInstalled: string[];
  notLoaded: UnloadedPlugin[];
  storeProblem: string | undefined;
  configFile: string | null;
  dir: string;
  dataDir: string;
}

function render(listing: Listing): string {
  const lines = [`plugin store: ${listing.dataDir}`];
  if (listing.configFile === null) {
    lines.push(`run order:    first-party first, then by name (no ${CONFIG_FILE} in ${listing.dir}, so no hooks.order and default timeouts)`);
  } else if (listing.order === null || listing.order.length === 0) {
    lines.push(`run order:    first-party first, then by name (${listing.configFile} sets no hooks.order)`);
  } else {
    lines.push(`run order:    ${listing.order.join(', ')} (hooks.order in ${listing.configFile}), then first-party, then by name`);
  }
  if (listing.notInstalled.length > 0) {
    lines.push(`note:         hooks.order names ${listing.notInstalled.join(', ')}, which no installed plugin is called`);
  }
  if (listing.storeProblem !== undefined) lines.push(`PROBLEM:      ${listing.storeProblem}`);
  if (listing.filesCheck === 'off') lines.push(`WARNING:      ${UNCHECKED_PLUGINS_ENV}=1: installed and linked plugins are loaded without checking who can change their files (development machines only)`);
  for (const entry of listing.notLoaded) {
    const what = entry.type === 'link' ? `linked from ${entry.root ?? '?'}` : 'installed';
    if (entry.refused !== undefined) {
      lines.push(`REFUSED:      ${entry.plugin} (${what}) is not loaded: ${entry.refused.why},`);
      lines.push('              so a user other than root could change code that runs as root; no update or rollback runs until it is fixed');
      lines.push(`              fix: ${entry.refused.fix}`);
      lines.push(`              or remove it with: parako plugins uninstall ${entry.plugin}`);
      continue;
    }
    lines.push(`NOT LOADED:   ${entry.plugin} (${what}) could not be loaded, so its hooks do not run (see the warning above);`);
    lines.push(`              fix it, or remove it with: parako plugins uninstall ${entry.plugin}`);
  }
  for (const {plugin, why} of listing.problems) {
    lines.push(`PROBLEM:      ${plugin}: ${why};`);
    lines.push(`              no update or rollback runs until it is fixed or removed with: parako plugins uninstall ${plugin}`);
  }
  const all = [...Object.values(listing.hooks).flat(), ...listing.plugins];
  const nameWidth = Math.max(0, ...all.map((hook) => hook.plugin.length));
  const versionWidth = Math.max(0, ...all.map((hook) => hook.version.length));
  const originWidth = Math.max(0, ...all.map((hook) => hook.origin.length));
  const columns = (hook: ListedHook): string => `${hook.plugin.padEnd(nameWidth)}  ${hook.version.padEnd(versionWidth)}  ${hook.origin.padEnd(originWidth)}`;
  const where = (hook: ListedHook): string => (hook.origin === 'linked' ? `  ${hook.root}` : '');
  if (listing.plugins.length > 0) {
    lines.push('', `plugins:      whether each acts with ${listing.configFile ?? `this host (no ${CONFIG_FILE})`}`);
    const files = (plugin: ListedPlugin): string => (plugin.files === 'root-only' ? ' · files root-only' : plugin.files === 'not checked' ? ' · files NOT CHECKED' : '');
    for (const plugin of listing.plugins) lines.push(`  ${columns(plugin)}  ${plugin.verdict}${files(plugin)}${where(plugin)}`);
  }
  for (const point of HOOK_POINTS) {
    lines.push('', `${point}  (timeout ${listing.timeoutSeconds[point]} s${point === 'notify' ? ', never changes the outcome' : ', fail-closed'})`);
    const hooks = listing.hooks[point];
    if (hooks.length === 0) lines.push('  (none)');
    // Only the plugins that act are numbered: those are the run order.
    hooks.forEach((hook, i) => {
      const verdict = hook.acts ? 'acts' : `idle (${hook.idle})`;
      lines.push(`  ${hook.acts ? `${i + 1}.` : '- '} ${columns(hook)}  ${verdict}${where(hook)}`);
    });
  }
  return lines.join('\n');
}
