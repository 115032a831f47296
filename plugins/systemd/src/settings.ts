import type {HookContext} from 'parako';

/** parako.json's `supervisor` section when systemd runs the app (docs/supervisors/systemd.md). */
export interface SystemdSettings {
  type: 'systemd';
  /** The units that run the release's code: `parako-id` or `parako-id.service`. */
  units: string[];
  /** How long every unit must stay active after the restart. */
  settleSeconds?: number;
}

/** This plugin's section, or undefined when another supervisor runs the app. */
export function settingsOf(ctx: HookContext): SystemdSettings | undefined {
  const supervisor = ctx.config.supervisor;
  // parako's config schema has validated these keys before any hook runs.
  return supervisor?.type === 'systemd' ? (supervisor as unknown as SystemdSettings) : undefined;
}
