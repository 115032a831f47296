// Writes oclif.manifest.json at build time so `parako --version` and `parako --help` do not
// import every command module at start-up (what `oclif manifest` does, without its heavy CLI).
import {writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {Plugin} from '@oclif/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true});
await plugin.load();
const manifest = plugin.manifest;
if (Object.keys(manifest.commands).length === 0) throw new Error('no commands found in dist/commands: run tsc first');
await writeFile(join(root, 'oclif.manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`);
