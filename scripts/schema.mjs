// Regenerates docs/parako.schema.json from the config schema in src/core/config.ts (run after
// `npm run build`); test/unit/config.test.ts fails when the published file is out of date.
import {writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {configJsonSchema} from '../dist/core/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await writeFile(join(root, 'docs', 'parako.schema.json'), JSON.stringify(configJsonSchema(), null, 2) + '\n');
console.log('docs/parako.schema.json written');
