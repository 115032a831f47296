/**
 * Before anything is downloaded: every program in supervisor.programs must be one supervisord
 * knows, so a typo stops the update with nothing changed (exit 6) rather than failing the
 * restart after the swap. On a first install the programs may not exist yet (the operator
 * adds them after `parako update --no-restart`), so they are checked only once a release is
 * installed; the restart hook checks again before it restarts anything.
 */
import {defineHook, PluginError} from 'parako';

import {provider} from '../provides.js';
import {Supervisorctl} from '../supervisorctl.js';

export default defineHook('pre-download', async ({ctx}) => {
  if (ctx.from === undefined) return;
  const settings = provider.settingsOf(ctx);
  try {
    await new Supervisorctl(ctx, settings).statusOf(settings.programs);
  } catch (error) {
    if (!ctx.dryRun || !(error instanceof PluginError)) throw error;
    // A dry run changes nothing, so what would stop the update is a warning here.
    ctx.say(`warning: ${error.message}; the update would stop with code 6`);
  }
});
