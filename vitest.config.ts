import {fileURLToPath} from 'node:url';

import {defineConfig} from 'vitest/config';

export default defineConfig({
  // A plugin's `import … from 'parako'` is the SDK of the parako running it (bin/resolve-parako.js);
  // under vitest it is this checkout's sources.
  resolve: {alias: {parako: fileURLToPath(new URL('src/index.ts', import.meta.url))}},
  test: {
    include: ['test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
    // Integration tests run the real CLI as child processes: two cores, so keep it modest.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
