import {readFile} from 'node:fs/promises';
import {join} from 'node:path';

import {type Refusal, trustReport} from './plugin-trust.js';
import {parseStoreEntries} from './store-file.js';

/** A plugin the store lists that oclif did not load: its hooks do not run. */
export interface UnloadedPlugin {
  plugin: string;
  type: string;
  root?: string;
  /** Why parako refused to load it: someone other than root could change its files. */
  refused?: {path: string; owner: string; mode: string; why: string; fix: string};
}

/**
 * What the plugin store (`<dataDir>/package.json`, written by `parako plugins`) lists. oclif
 * skips an entry it cannot load with only a warning, so the listing names those here.
 */
async function readStore(dataDir: string): Promise<{plugins: UnloadedPlugin[]; problem?: string}> {
  const file = join(dataDir, 'package.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    // No store yet: nothing was ever installed or linked on this host.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {plugins: []};
    return {plugins: [], problem: `cannot read ${file}: ${(error as Error).message}`};
  }
  try {
    return {plugins: parseStoreEntries(text).map(({name, type, root}) => ({plugin: name, type, ...(root === undefined ? {} : {root})}))};
  } catch (error) {
    return {plugins: [], problem: `${file} is not valid JSON (${(error as Error).message}): no installed or linked plugin was loaded`};
  }
}


/**
 * The plugins the store lists that oclif did not load (a linked folder deleted, a broken
 * package), and a store that cannot be read. Their hooks would silently not run: a backup or
 * maintenance-window plugin missing unnoticed, so the gating points refuse to go on.
 */
export async function unloadedPlugins(dataDir: string, loaded: Set<string>): Promise<{plugins: UnloadedPlugin[]; problem?: string}> {
  const store = await readStore(dataDir);
  const trust = trustReport(dataDir);
  const refusalOf = (name: string): Refusal | undefined => trust.store ?? trust.refused.find((refusal) => refusal.plugin === name);
  const plugins = store.plugins
    .filter((entry) => !loaded.has(entry.plugin))
    .map((entry) => {
      const refusal = refusalOf(entry.plugin);
      if (refusal === undefined) return entry;
      const {path, owner, mode} = refusal.unsafe;
      return {...entry, refused: {path, owner, mode: `0${mode.toString(8).padStart(3, '0')}`, why: refusal.why, fix: refusal.fix}};
    });
  return {plugins, problem: store.problem};
}
