// ESM resolve hook, registered by bin/run.js. A plugin installed into the data dir or linked
// from a folder has no copy of parako of its own, yet it does `import {defineHook} from
// 'parako'`: the bare specifier is answered with this installation's SDK, so every plugin
// gets the parako that runs it (as a peer dependency would). Node's own resolver finishes
// the job, so the module has the same URL (symlinks resolved) as the one the CLI loaded.
const sdk = new URL('../dist/index.js', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier === 'parako' ? sdk : specifier, context);
}
