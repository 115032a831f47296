/**
 * What this plugin tells parako besides its hooks: the `supervisor` section it owns (checked
 * before anything is fetched; a bad key exits 2), and how the service is described in the
 * dry run's plan and stopped, started and restarted by hand (docs/supervisors/supervisord.md).
 */
import {defineProvider, type InstallView, z} from 'parako';

import {commandLine} from './supervisorctl.js';

const schema = z.strictObject({
  type: z.literal('supervisord'),
  programs: z
    .array(z.string().regex(/^\S+$/, 'a program name as supervisorctl status shows it (web, or group:web), without spaces'))
    .min(1)
    .describe('the programs that run the release\'s code: names from supervisord\'s config, or group:name'),
  configFile: z
    .string()
    .min(1)
    .optional()
    .describe('supervisorctl -c: the supervisord.conf whose [supervisorctl] section leads to the daemon; relative to the install dir unless absolute (default: supervisorctl\'s own lookup, /etc/supervisor/supervisord.conf on Debian)'),
  serverUrl: z.string().min(1).optional().describe('supervisorctl -s: unix:///run/supervisor.sock or http://127.0.0.1:9001, when not the one in the config file'),
  settleSeconds: z.number().nonnegative().max(600).optional().describe('how long every program must stay RUNNING with the same pid after the restart (default 3)'),
});

/** parako.json's `supervisor` section when supervisord runs the app. */
export type SupervisordSettings = z.output<typeof schema>;

export const provider = defineProvider<SupervisordSettings>({
  settings: {key: 'supervisor', schema, jsonSchema: z.toJSONSchema(schema, {io: 'input'})},
  supervisor: {
    describe: (settings) => settings.programs.map((program) => `supervisord program ${program}`),
    commands: (settings, install: InstallView) => ({
      stop: commandLine(settings, install.dir, ['stop', ...settings.programs]),
      start: commandLine(settings, install.dir, ['start', ...settings.programs]),
      restart: commandLine(settings, install.dir, ['restart', ...settings.programs]),
    }),
  },
});

export default provider;
