import {Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import type {OperationResult} from '../core/operation.js';
import {rollback} from '../core/rollback.js';

export default class Rollback extends ParakoCommand {
  static override summary = 'Re-aim current at the previous release (or --to a retained one), restart, check health';
  static override description = `Without --to, goes back to the release that was current before this one was installed.
Refuses (exit 5) to roll code back over a migration unless --reverse-migration or --force.`;
  static override examples = ['<%= config.bin %> rollback', '<%= config.bin %> rollback --to v1.3.2', '<%= config.bin %> rollback --reverse-migration'];

  static override flags = {
    to: Flags.string({description: 'a retained version (vA.B.C or A.B.C)'}),
    'reverse-migration': Flags.boolean({description: "run the current release's declared reverse migration first", default: false, exclusive: ['force']}),
    force: Flags.boolean({description: 'roll back over a migration you have already reverted yourself', default: false}),
    restart: Flags.boolean({description: 'restart the service and check health (--no-restart skips both)', default: true, allowNo: true}),
  };

  protected override writesLog(): boolean {
    return true;
  }

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Rollback);
    const env = await this.environment(flags);
    return rollback(env, {to: flags.to, reverseMigration: flags['reverse-migration'], force: flags.force, restart: flags.restart});
  }
}
