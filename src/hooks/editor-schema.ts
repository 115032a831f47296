/**
 * The JSON Schema editors use for parako.json (docs/parako.schema.json): the core's own keys,
 * with the sections plugins own filled in from their providers' `settings.jsonSchema`:
 * `supervisor` and `backup` become "one of" the plugins that act on their `type`, and
 * `plugins.<name>` gets each other plugin's section.
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

import {configJsonSchema} from '../core/config.js';
import type {Provider} from '../sdk/provider.js';

export interface PluginSection {
  plugin: string;
  key: string;
  jsonSchema: Record<string, unknown>;
}

type JsonObject = Record<string, unknown>;

export function editorSchema(sections: PluginSection[]): JsonObject {
  const schema = configJsonSchema() as JsonObject;
  const properties = schema.properties as Record<string, JsonObject>;
  for (const key of ['supervisor', 'backup']) {
    const own = sections.filter((section) => section.key === key).sort((a, b) => a.plugin.localeCompare(b.plugin));
    if (own.length === 0) continue;
    const description = properties[key]?.description;
    properties[key] = {...(description === undefined ? {} : {description}), anyOf: own.map((section) => withoutMeta(section.jsonSchema))};
  }
  const others = sections.filter((section) => section.key.startsWith('plugins.')).sort((a, b) => a.key.localeCompare(b.key));
  if (others.length > 0) {
    const plugins = properties.plugins ?? {};
    properties.plugins = {...plugins, properties: Object.fromEntries(others.map((section) => [section.key.slice('plugins.'.length), withoutMeta(section.jsonSchema)]))};
  }
  return schema;
}

/** The sections of the plugins listed in `<root>/package.json` (oclif.plugins) that declare a provider. */
export async function sectionsOfPackage(root: string): Promise<PluginSection[]> {
  const pjson = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {oclif?: {plugins?: string[]}};
  const sections: PluginSection[] = [];
  for (const name of pjson.oclif?.plugins ?? []) {
    const pluginRoot = join(root, 'node_modules', ...name.split('/'));
    const plugin = JSON.parse(await readFile(join(pluginRoot, 'package.json'), 'utf8')) as {parako?: {provides?: unknown}};
    const target = plugin.parako?.provides;
    if (typeof target !== 'string') continue;
    const provider = ((await import(pathToFileURL(join(pluginRoot, target)).href)) as {default: Provider}).default;
    const settings = provider.settings;
    if (settings?.jsonSchema !== undefined) sections.push({plugin: name, key: settings.key, jsonSchema: settings.jsonSchema});
  }
  return sections;
}

/** A fragment carries its own `$schema`; inside another schema it must not. */
function withoutMeta(schema: JsonObject): JsonObject {
  const {$schema: _dropped, ...rest} = schema;
  return rest;
}
