import {register} from 'node:module';

let registered = false;

/**
 * Answers a plugin's `import ... from 'parako'` with this installation's SDK
 * (bin/resolve-parako.js), from now on. The hook runs on a loader thread that costs ~40 ms to
 * start on Node 20 and slows every later import (undici's, sigstore's, tar's), so it is
 * registered just before plugin code is first imported: at start-up by bin/run.js when oclif
 * may load a plugin itself, else by the hook runner when it loads a provider or a hook. An
 * update whose plugins do not act never starts it (docs/performance.md, start-up).
 */
export function resolvePluginImports(): void {
  if (registered) return;
  registered = true;
  register('../../bin/resolve-parako.js', import.meta.url);
}
