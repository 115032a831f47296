/** parako.json's `supervisor` section when systemd runs the app (docs/supervisors/systemd.md). */
import {z} from 'parako';

export const settingsSchema = z.strictObject({
  type: z.literal('systemd'),
  units: z.array(z.string().min(1)).min(1).describe("the units that run the release's code: parako-id or parako-id.service"),
  settleSeconds: z.number().nonnegative().max(600).optional().describe('how long every unit must stay active after the restart'),
});

export type SystemdSettings = z.output<typeof settingsSchema>;
