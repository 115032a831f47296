/** parako.json's `supervisor` section when compose runs the app (docs/supervisors/compose.md). */
import {z} from 'parako';

export const settingsSchema = z.strictObject({
  type: z.literal('compose'),
  file: z.string().min(1).describe('the compose file, relative to the install dir unless absolute'),
  services: z.array(z.string().min(1)).min(1).describe("the services that run the release's code"),
  mode: z.enum(['restart', 'up']).optional().describe('restart (default) the containers, or up to apply a compose file that changed with the release'),
  settleSeconds: z.number().nonnegative().max(600).optional().describe('how long every container must stay up after the restart'),
});

export type ComposeSettings = z.output<typeof settingsSchema>;
