// Regenerates docs/parako.schema.json (run after `npm run build`): the core's keys from
// src/core/config.ts, and the sections the first-party plugins own, from their providers
// (src/hooks/editor-schema.ts). test/unit/config.test.ts fails when the file is out of date.
import {writeFile} from 'node:fs/promises';
import {register} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

// The plugins' providers import 'parako', which the CLI resolves to this checkout (bin/resolve-parako.js).
register('../bin/resolve-parako.js', import.meta.url);
const {editorSchema, sectionsOfPackage} = await import('../dist/hooks/editor-schema.js');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await writeFile(join(root, 'docs', 'parako.schema.json'), JSON.stringify(editorSchema(await sectionsOfPackage(root)), null, 2) + '\n');
console.log('docs/parako.schema.json written');
