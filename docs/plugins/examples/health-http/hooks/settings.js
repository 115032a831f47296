// @ts-check
/** The plugin's settings: `plugins["parako-plugin-health-http"]` in parako.json. */

export const PLUGIN = 'parako-plugin-health-http';

/**
 * @typedef {object} Probe
 * @property {string} url
 * @property {number | undefined} status  the exact status expected; undefined: any 2xx
 * @property {string | undefined} bodyIncludes  text the response body must contain
 *
 * @typedef {object} Settings
 * @property {Probe[]} probes
 * @property {number} timeoutSeconds  for one request
 * @property {number} waitSeconds  how long failing probes are retried (the service may still be starting)
 */

/**
 * Reads and checks the settings; undefined when parako.json has none for this plugin.
 * @param {import('parako').HostConfig} config
 * @returns {Settings | undefined}
 */
export function readSettings(config) {
  const raw = config.plugins?.[PLUGIN];
  if (raw === undefined) return undefined;
  const where = `parako.json plugins["${PLUGIN}"]`;
  if (!isObject(raw) || !Array.isArray(raw.urls) || raw.urls.length === 0) {
    throw new Error(`${where}.urls must be a non-empty list of URLs (or {"url", "status", "bodyIncludes"} objects)`);
  }
  return {
    probes: raw.urls.map((entry, index) => toProbe(entry, `${where}.urls[${index}]`)),
    timeoutSeconds: numberOr(raw.timeoutSeconds, 5, `${where}.timeoutSeconds`),
    waitSeconds: numberOr(raw.waitSeconds, 30, `${where}.waitSeconds`),
  };
}

/**
 * @param {unknown} entry
 * @param {string} where
 * @returns {Probe}
 */
function toProbe(entry, where) {
  const probe = typeof entry === 'string' ? {url: entry} : entry;
  if (!isObject(probe) || typeof probe.url !== 'string') throw new Error(`${where} must be a URL or an object with "url"`);
  let protocol;
  try {
    protocol = new URL(probe.url).protocol;
  } catch {
    throw new Error(`${where}: "${probe.url}" is not a URL`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`${where}: "${probe.url}" must be http:// or https://`);
  if (probe.status !== undefined && !Number.isInteger(probe.status)) throw new Error(`${where}.status must be an HTTP status number`);
  if (probe.bodyIncludes !== undefined && typeof probe.bodyIncludes !== 'string') throw new Error(`${where}.bodyIncludes must be a string`);
  return {
    url: probe.url,
    status: /** @type {number | undefined} */ (probe.status),
    bodyIncludes: /** @type {string | undefined} */ (probe.bodyIncludes),
  };
}

/**
 * @param {unknown} value
 * @param {number} fallback
 * @param {string} where
 */
function numberOr(value, fallback, where) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw new Error(`${where} must be a number of seconds`);
  return value;
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
