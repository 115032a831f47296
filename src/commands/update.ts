import {Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import type {OperationResult} from '../core/operation.js';
import {update} from '../core/update.js';

export default class Update extends ParakoCommand {
  static override summary = 'Download, verify, stage and switch to a release, then restart and check health';
  static override description = `Runs the pipeline: resolve -> pre-download -> download -> verify -> post-verify -> stage -> pre-swap (backup) -> swap -> post-swap (migration) -> restart -> health -> prune -> notify.
An unhealthy release is rolled back automatically (exit 7). Exit codes: docs/exit-codes.md.`;
  static override examples = [
    '<%= config.bin %> update --dry-run',
    '<%= config.bin %> update',
    '<%= config.bin %> update --version 1.4.0 --migrate',
    '<%= config.bin %> update --version "^1.4" --json',
    '<%= config.bin %> update --unattended --json',
  ];

  static override flags = {
    version: Flags.string({description: 'version to install: 1.4.0, v1.4.0, a semver range, or latest', default: 'latest'}),
    'dry-run': Flags.boolean({description: 'download and verify into TMPDIR, print the plan, change nothing', default: false}),
    migrate: Flags.boolean({description: "run the release's migration command after the swap (otherwise it is printed)", default: false}),
    backup: Flags.boolean({description: 'force (--backup) or skip (--no-backup) the pre-swap database backup; default: when the release migrates', allowNo: true}),
    'allow-downgrade': Flags.boolean({description: 'allow installing a version older than the current one', default: false}),
    restart: Flags.boolean({description: 'restart the service and check health (--no-restart skips both)', default: true, allowNo: true}),
    yes: Flags.boolean({char: 'y', description: 'do not ask before installing a release with breaking changes', default: false}),
    unattended: Flags.boolean({
      description: 'nobody is there (a timer): breaking changes and migrations are refused (exit 5) unless updates.unattended in parako.json allows them',
      default: false,
      exclusive: ['yes'],
    }),
  };

  protected override writesLog(): boolean {
    return true;
  }

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Update);
    const env = await this.environment(flags, {dryRun: flags['dry-run']});
    return update(env, {
      version: flags.version,
      dryRun: flags['dry-run'],
      migrate: flags.migrate,
      backup: flags.backup,
      allowDowngrade: flags['allow-downgrade'],
      restart: flags.restart,
      yes: flags.yes,
      unattended: flags.unattended,
    });
  }
}
