import type {HookContext} from 'parako';

/** parako.json's `supervisor` section when compose runs the app (docs/supervisors/compose.md). */
export interface ComposeSettings {
  type: 'compose';
  /** The compose file, relative to the install dir unless absolute. */
  file: string;
  services: string[];
  /** `restart` the containers, or `up` to apply a compose file that changed with the release. */
  mode?: 'restart' | 'up';
  /** How long every container must stay up after the restart. */
  settleSeconds?: number;
}

/** This plugin's section, or undefined when another supervisor runs the app. */
export function settingsOf(ctx: HookContext): ComposeSettings | undefined {
  const supervisor = ctx.config.supervisor;
  // parako's config schema has validated these keys before any hook runs.
  return supervisor?.type === 'compose' ? (supervisor as unknown as ComposeSettings) : undefined;
}
