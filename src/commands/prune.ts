import {Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import {readHistory} from '../core/history.js';
import {readCurrentVersion} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {pruneReleases, pruneRules} from '../core/prune.js';
import {exclusively} from '../core/recover.js';

export default class Prune extends ParakoCommand {
  static override summary = 'Delete old releases beyond N; never current, never the rollback target';
  static override examples = ['<%= config.bin %> prune', '<%= config.bin %> prune --keep 2'];

  static override flags = {
    keep: Flags.integer({description: 'releases to keep (default: keepReleases from parako.json)', min: 2}),
  };

  protected override writesLog(): boolean {
    return true;
  }

  protected async execute(): Promise<OperationResult> {
    const {flags} = await this.parseFlags(Prune);
    const env = await this.environment(flags);
    return exclusively(env, 'prune', async () => {
      const current = await readCurrentVersion(env.layout);
      const keep = flags.keep ?? env.config.keepReleases;
      const removed = await pruneReleases(env.layout, pruneRules(await readHistory(env.layout), keep, current));
      const versions = removed.map((r) => r.version);
      return {
        code: 0,
        outcome: 'pruned',
        message: versions.length === 0 ? `nothing to prune (keeping ${keep})` : `pruned ${versions.map((v) => `v${v}`).join(', ')} (keeping ${keep})`,
        from: current ?? null,
        to: current ?? null,
        pruned: versions,
      };
    });
  }
}
