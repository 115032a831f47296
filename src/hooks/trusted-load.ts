/**
 * What oclif is told to load, once the plugin store has been judged (plugin-trust.ts): every
 * installed and linked plugin when all pass, none when the store itself fails, and otherwise
 * parako with only the plugins that passed, so that a refused plugin's code never runs.
 */
import {join} from 'node:path';

import {Config, type Interfaces, Plugin} from '@oclif/core';

import {bypassWarning, checkPluginStore, checksBypassed, recordTrust, type Refusal, type TrustReport} from './plugin-trust.js';

export async function trustedLoadOptions(root: string, dataDir: string, userPlugins: boolean): Promise<Interfaces.LoadOptions> {
  if (!userPlugins) {
    if (checksBypassed()) process.stderr.write(`${bypassWarning()}\n`);
    return {root, userPlugins: false};
  }
  const report = checkPluginStore(dataDir);
  recordTrust(report);
  for (const line of startupWarnings(report)) process.stderr.write(`${line}\n`);
  if (report.unchecked) return {root};
  if (report.store !== undefined) return {root, userPlugins: false};
  if (report.refused.length === 0) return {root};
  const refused = new Set(report.refused.map((entry) => entry.plugin));
  const config = await Config.load({root, userPlugins: false});
  for (const entry of report.entries) {
    if (refused.has(entry.name)) continue;
    try {
      // As oclif's own loader does it: an installed plugin is found from the store's package.json;
      // one named like a bundled plugin replaces it, as it would there.
      const plugin = new Plugin({name: entry.name, type: entry.type, root: entry.root ?? join(dataDir, 'package.json')});
      await plugin.load();
      config.plugins.set(plugin.name, plugin);
    } catch (error) {
      process.emitWarning(error as Error);
    }
  }
  return config;
}

/** The lines every run prints while a plugin is refused or the check is off. */
export function startupWarnings(report: TrustReport): string[] {
  if (report.unchecked) return [bypassWarning()];
  const refusals = report.store === undefined ? report.refused : [report.store];
  return refusals.map((refusal) => `parako: WARNING: ${describeRefusal(refusal)}`);
}

export function describeRefusal(refusal: Refusal): string {
  const what = refusal.plugin === undefined ? `the plugin store ${refusal.root} is not used, so no installed or linked plugin is loaded` : `plugin ${refusal.plugin} is not loaded`;
  return `${what}: ${refusal.why}, so a user other than root could change code that runs as root; fix: ${refusal.fix}`;
}
