/**
 * What this plugin provides besides its hook: the `supervisor` section of parako.json it owns
 * when `supervisor.type` is "compose" (docs/supervisors/compose.md), what a restart restarts,
 * and how an operator stops and starts those services by hand.
 */
import {defineProvider, shellQuote, z} from 'parako';

import {projectOf} from './compose.js';
import {type ComposeSettings, settingsSchema} from './settings.js';

export const provider = defineProvider<ComposeSettings>({
  settings: {key: 'supervisor', schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
  supervisor: {
    describe: (settings) => settings.services.map((service) => `compose service ${service}`),
    commands(settings, install) {
      const {file, projectDir} = projectOf(install.dir, settings.file);
      // Compose v2's spelling: which CLI a host has is known only by running it, which this
      // pure function cannot. On a host with only v1, the operator types `docker-compose`.
      const compose = (action: string): string =>
        ['docker compose -f', shellQuote(file), '--project-directory', shellQuote(projectDir), action, ...settings.services.map(shellQuote)].join(' ');
      return {stop: compose('stop'), start: compose('start'), restart: compose('restart')};
    },
  },
});

export default provider;
