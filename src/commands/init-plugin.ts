import {join, resolve} from 'node:path';
import {Args, Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import type {OperationResult} from '../core/operation.js';
import {scaffoldPlugin} from '../core/scaffold.js';

export default class InitPlugin extends ParakoCommand {
  static override summary = 'Create an in-house plugin package (a health and a notify hook, a README, a test) in a new folder';
  static override description = `Copies the plugin template of this parako into <dir>, which must be new or empty (exit 2 otherwise, nothing written).
The package name defaults to parako-plugin-<basename of dir>. Writing plugins: docs/plugins/writing.md.`;
  static override examples = ['<%= config.bin %> init-plugin ./probe', '<%= config.bin %> init-plugin ./checks --name @acme/parako-plugin-checks'];

  static override args = {
    dir: Args.string({description: 'the new plugin folder', required: true}),
  };

  static override flags = {
    name: Flags.string({description: 'npm package name (default: parako-plugin-<basename of dir>)'}),
  };

  protected async execute(): Promise<OperationResult> {
    const {args, flags} = await this.parseFlags(InitPlugin);
    const dir = resolve(args.dir);
    const {name, files} = await scaffoldPlugin({
      templateDir: join(this.config.root, 'templates', 'plugin'),
      dir,
      name: flags.name,
      parakoRoot: this.config.root,
    });
    return {
      code: 0,
      outcome: 'scaffolded',
      message: `created plugin ${name} in ${dir}`,
      from: null,
      to: null,
      name,
      dir,
      files,
      next: `cd ${shellWord(dir)} && npm install && npm run build && npm test && parako plugins link ${shellWord(dir)}`,
    };
  }
}

/** The path as one word of a shell command line, quoted only when it needs to be. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}
