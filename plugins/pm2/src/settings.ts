import type {HookContext} from 'parako';

/** parako.json's `supervisor` section when pm2 runs the app (docs/supervisors/pm2.md). */
export interface Pm2Settings {
  type: 'pm2';
  /** Apps already started with `pm2 start`. */
  apps: string[];
  /** The system user that owns the apps: pm2 is driven as that user. */
  runAs?: string;
  /** PM2_HOME of the user that owns the apps (default: that user's ~/.pm2). */
  home?: string;
  mode?: 'reload' | 'restart';
  /** How long every instance must stay online after the reload. */
  settleSeconds?: number;
}

/** This plugin's section, or undefined when another supervisor runs the app. */
export function settingsOf(ctx: HookContext): Pm2Settings | undefined {
  const supervisor = ctx.config.supervisor;
  // parako's config schema has validated these keys before any hook runs.
  return supervisor?.type === 'pm2' ? (supervisor as unknown as Pm2Settings) : undefined;
}
