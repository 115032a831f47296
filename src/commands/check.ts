import {ParakoCommand} from '../cli/base.js';
import {type AvailableRelease, checkForUpdate, describeAvailable} from '../core/check.js';
import type {OperationResult} from '../core/operation.js';

export default class Check extends ParakoCommand {
  static override summary = 'Is a newer release available that this host may install? Exit 9 if so, 0 if not';
  static override description = `Reads the feed and the history, never changes anything and takes no lock: safe for a monitor or a cron job.
Picks as update does: the newest release within updates.channel, skipping versions that failed their health check here.
Lists every release an update would go over, with the migrations, breaking changes and notes the feed index gives (unsigned hints; the signed release.json of each decides).
Exit 0: up to date, or held (updates.hold). Exit 9: an update is available. Other codes: docs/exit-codes.md.`;
  static override examples = ['<%= config.bin %> check', '<%= config.bin %> check --json'];

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Check);
    const env = await this.environment(flags, {dryRun: true});
    const result = await checkForUpdate(env);
    const available = result.available as AvailableRelease[];
    if (available.length > 0) this.terminal.say(`releases an update goes over (from the feed index):\n${describeAvailable(available)}`);
    return result;
  }
}
