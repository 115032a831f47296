/**
 * What this plugin tells parako besides its hook: the section of parako.json it owns,
 * `plugins["@parako/plugin-notify-webhook"]` (docs/notify/webhook.md), checked before anything
 * is fetched so that a typo exits 2 instead of a notification lost after the update.
 */
import {defineProvider, z} from 'parako';

export const PLUGIN = '@parako/plugin-notify-webhook';

/** Every `outcome` parako reports at notify (docs/hooks.md). */
export const OUTCOMES = ['installed', 'updated', 'rolled-back', 'failed', 'auto-rolled-back', 'unhealthy'] as const;

const absolutePath = z.string().regex(/^\//, 'must be an absolute path');
// The message must not repeat the value: a webhook URL carries its token.
const httpUrl = z.string().refine((url) => /^https?:\/\//i.test(url) && URL.canParse(url), 'must be an http:// or https:// URL');

export const settingsSchema = z
  .strictObject({
    url: httpUrl
      .optional()
      .describe('where to post: the webhook URL, or for format "matrix" the homeserver (https://matrix.example.org). A webhook URL holds its token: write "${NOTIFY_WEBHOOK_URL}" or use urlFile'),
    urlFile: absolutePath.optional().describe('a file (mode 0600) holding the URL on one line, instead of url'),
    format: z
      .enum(['json', 'slack', 'matrix'])
      .default('json')
      .describe('json: the whole outcome; slack: {"text"} for Slack, Mattermost, Rocket.Chat and Matrix hookshot; matrix: an m.text message through the Matrix client-server API'),
    room: z
      .string()
      .regex(/^![^:\s]+:\S+$/, 'must be a Matrix room id, !…:server (Element: Room settings › Advanced)')
      .optional()
      .describe('format "matrix": the room id to post in'),
    accessToken: z.string().min(1).optional().describe('format "matrix": the bot account\'s access token; write "${MATRIX_TOKEN}", or use accessTokenFile'),
    accessTokenFile: absolutePath.optional().describe('format "matrix": a file (mode 0600) holding the access token'),
    on: z.array(z.enum(OUTCOMES)).min(1).optional().describe('post only these outcomes (default: every outcome)'),
    timeoutSeconds: z.number().positive().max(60).default(5).describe('how long one attempt may take (default 5)'),
    retries: z.number().int().min(0).max(5).default(2).describe('attempts after the first on a network error, no answer, HTTP 5xx, 408 or 429 (default 2)'),
  })
  .superRefine((settings, issues) => {
    const refuse = (key: string, message: string): void => void issues.addIssue({code: 'custom', path: [key], message});
    if ((settings.url === undefined) === (settings.urlFile === undefined)) refuse('url', 'give either url (or "${VARIABLE}") or urlFile');
    if (settings.format === 'matrix') {
      if (settings.room === undefined) refuse('room', 'is required with format "matrix": the room id, !…:server');
      if ((settings.accessToken === undefined) === (settings.accessTokenFile === undefined)) refuse('accessToken', 'give either accessToken (or "${VARIABLE}") or accessTokenFile with format "matrix"');
    } else {
      for (const key of ['room', 'accessToken', 'accessTokenFile'] as const) {
        if (settings[key] !== undefined) refuse(key, `is for format "matrix" only (format is "${settings.format}")`);
      }
    }
  });

export type NotifySettings = z.output<typeof settingsSchema>;

export const provider = defineProvider<NotifySettings>({
  settings: {key: `plugins.${PLUGIN}`, schema: settingsSchema, jsonSchema: z.toJSONSchema(settingsSchema, {io: 'input'})},
});

export default provider;
