/**
 * What this plugin provides besides its hook: the `supervisor` section of parako.json it owns
 * when `supervisor.type` is "systemd" (docs/supervisors/systemd.md), what a restart restarts,
 * and how an operator stops and starts those units by hand.
 */
import {defineProvider, shellQuote, z} from 'parako';

import {settingsSchema, type SystemdSettings} from './settings.js';

export const provider = defineProvider<SystemdSettings>({
  settings: {key: 'supervisor', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  supervisor: {
    describe: (settings) => settings.units.map((unit) => `systemd unit ${unit}`),
    commands(settings) {
      const systemctl = (action: string): string => `systemctl ${action} ${settings.units.map(shellQuote).join(' ')}`;
      return {stop: systemctl('stop'), start: systemctl('start'), restart: systemctl('restart')};
    },
  },
});

export default provider;
