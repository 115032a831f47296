import {ParakoCommand} from '../cli/base.js';
import {statusResult} from '../cli/status-view.js';
import type {OperationResult} from '../core/operation.js';

export default class Status extends ParakoCommand {
  static override summary = 'Current version, retained releases, an operation in flight or interrupted, the last outcome';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Status);
    return statusResult(flags.dir, this.terminal);
  }
}
