/** parako.json's `supervisor` section when pm2 runs the app (docs/supervisors/pm2.md). */
import {z} from 'parako';

export const settingsSchema = z.strictObject({
  type: z.literal('pm2'),
  apps: z.array(z.string().min(1)).min(1).describe('pm2 app names, of apps already started with pm2 start'),
  runAs: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_-]*\$?$/, 'must be a system user name')
    .optional()
    .describe('the system user that owns the apps: pm2 is driven as that user'),
  home: z.string().min(1).optional().describe('PM2_HOME of the user that owns the apps'),
  mode: z.enum(['reload', 'restart']).optional().describe('reload (default): zero downtime in cluster mode; restart: stop, then start'),
  settleSeconds: z.number().nonnegative().max(600).optional().describe('how long every instance must stay online after the reload'),
});

export type Pm2Settings = z.output<typeof settingsSchema>;
