// @ts-check
/**
 * Checks the settings before anything is downloaded: a typo in parako.json then stops the
 * update with nothing changed (exit 6), instead of failing the health hook and rolling back a
 * release that was fine.
 */
import {readSettings} from './settings.js';

/** @param {{ctx: import('parako').HookContext}} options */
export default async function checkSettings({ctx}) {
  readSettings(ctx.config);
}
