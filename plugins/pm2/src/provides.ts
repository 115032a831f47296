/**
 * What this plugin provides besides its hook: the `supervisor` section of parako.json it owns
 * when `supervisor.type` is "pm2" (docs/supervisors/pm2.md), what a reload reloads, and how an
 * operator stops and starts those apps by hand.
 */
import {defineProvider, shellQuote, z} from 'parako';

import {type Pm2Settings, settingsSchema} from './settings.js';

export const provider = defineProvider<Pm2Settings>({
  settings: {key: 'supervisor', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  supervisor: {
    describe: (settings) => settings.apps.map((app) => `pm2 app ${app}`),
    commands(settings) {
      // As the hook drives pm2: as the apps' user (runuser sets HOME, so ~/.pm2 is theirs), with PM2_HOME when set.
      const asUser = settings.runAs === undefined ? '' : `runuser -u ${shellQuote(settings.runAs)} -- `;
      const home = settings.home === undefined ? '' : `env PM2_HOME=${shellQuote(settings.home)} `;
      const pm2 = (action: string): string => `${asUser}${home}pm2 ${action} ${settings.apps.map(shellQuote).join(' ')}`;
      return {stop: pm2('stop'), start: pm2('start'), restart: pm2('restart')};
    },
  },
});

export default provider;
