/** parako.json's `supervisor` section when systemd runs the app (docs/supervisors/systemd.md). */
import {z} from 'parako';

/**
 * A unit parako restarts. Not a socket: `systemctl restart <x>.socket` closes the listening
 * socket that socket activation keeps open across the service's restart (and, through the
 * service's Requires=, restarts the service too), so connections are refused.
 */
const unitName = z
  .string()
  .min(1)
  .refine((unit) => !unit.endsWith('.socket'), {
    message: 'name the service, not its socket (parako-id, not parako-id.socket): parako restarts these units, and restarting a socket closes it',
  });

export const settingsSchema = z.strictObject({
  type: z.literal('systemd'),
  units: z.array(unitName).min(1).describe("the units that run the release's code: parako-id or parako-id.service"),
  settleSeconds: z.number().nonnegative().max(600).optional().describe('how long every unit must stay active after the restart'),
});

export type SystemdSettings = z.output<typeof settingsSchema>;
