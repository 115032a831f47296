/** One plugin the store lists (`oclif.plugins` of `<data dir>/package.json`, written by `parako plugins`). */
export interface StoreEntry {
  name: string;
  /** `user` (installed into `<data dir>/node_modules/<name>`), `link`, or whatever else oclif wrote. */
  type: string;
  /** A linked plugin's folder. */
  root?: string;
}

/**
 * The store's entries, read the one way both the trust check and the listing of unloaded
 * plugins read them. A bare string is an installed plugin; an entry without a name is skipped.
 * Throws SyntaxError when the text is not JSON.
 */
export function parseStoreEntries(text: string): StoreEntry[] {
  const pjson = JSON.parse(text) as {oclif?: {plugins?: Array<string | {name?: unknown; type?: unknown; root?: unknown}>}};
  return (pjson.oclif?.plugins ?? []).flatMap((entry): StoreEntry[] => {
    if (typeof entry === 'string') return [{name: entry, type: 'user'}];
    if (typeof entry?.name !== 'string') return [];
    return [{name: entry.name, type: typeof entry.type === 'string' ? entry.type : 'user', ...(typeof entry.root === 'string' ? {root: entry.root} : {})}];
  });
}
