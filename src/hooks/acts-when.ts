import {CONFIG_FILE} from '../core/config.js';

/**
 * Whether a plugin acts with this host's parako.json. A plugin declares it as data in its
 * package.json, `"parako": {"actsWhen": {"supervisor.type": "runit"}}`: dotted paths into
 * parako.json and the string each must equal, or `true` for "is set" (a plugin that acts when
 * the host configures its own section: `{"plugins.parako-plugin-chat": true}`). A plugin
 * without the declaration acts on every run.
 */
export type Verdict =
  | {acts: true; /** it declares no condition */ everyRun: boolean; why: string}
  | {acts: false; why: string; /** the declaration itself is wrong */ problem?: true};

/** A path's wanted string, or `true`: the path is set (to anything but null). */
type Wanted = string | true;

const EVERY_RUN: Verdict = {acts: true, everyRun: true, why: 'declares no condition'};

/** The verdict for one plugin; `why` is in the operator's words. `config` is null without a parako.json. */
export function actsWhen(declaration: unknown, config: object | null): Verdict {
  if (declaration === undefined) return EVERY_RUN;
  const conditions = conditionsOf(declaration);
  if (conditions === undefined) {
    return {
      acts: false,
      problem: true,
      why: `its package.json has parako.actsWhen ${JSON.stringify(declaration)}, which is not a map of ${CONFIG_FILE} paths to strings or true, e.g. {"supervisor.type": "runit"} or {"plugins.parako-plugin-chat": true}`,
    };
  }
  if (conditions.length === 0) return EVERY_RUN;
  if (config === null) return {acts: false, why: `no ${CONFIG_FILE}`};
  for (const [path, wanted] of conditions) {
    const value = valueAt(config, path);
    // null is how JSON says "nothing here": a section set to null is not set.
    if (wanted === true && (value === undefined || value === null)) return {acts: false, why: `${CONFIG_FILE} sets no ${path}`};
    if (wanted === true) continue;
    if (value === undefined) return {acts: false, why: `${CONFIG_FILE} sets no ${path}, this plugin acts when it is ${JSON.stringify(wanted)}`};
    if (value !== wanted) return {acts: false, why: `${path} is ${describe(value)} in ${CONFIG_FILE}, this plugin acts when it is ${JSON.stringify(wanted)}`};
  }
  const matched = conditions.map(([path, wanted]) => (wanted === true ? `${path} is set` : `${path} is ${JSON.stringify(wanted)}`)).join(', ');
  return {acts: true, everyRun: false, why: `${matched} in ${CONFIG_FILE}`};
}

/** The verdict as one phrase: `acts on every run: …`, `acts: …`, `idle: …` or `PROBLEM: …`. */
export function describeVerdict(verdict: Verdict): string {
  if (verdict.acts) return verdict.everyRun ? `acts on every run: ${verdict.why}` : `acts: ${verdict.why}`;
  return verdict.problem === true ? `PROBLEM: ${verdict.why}` : `idle: ${verdict.why}`;
}

function conditionsOf(declaration: unknown): Array<[string, Wanted]> | undefined {
  if (declaration === null || typeof declaration !== 'object' || Array.isArray(declaration)) return undefined;
  const entries = Object.entries(declaration);
  return entries.every((entry): entry is [string, Wanted] => (typeof entry[1] === 'string' || entry[1] === true) && entry[0] !== '') ? entries : undefined;
}

/**
 * Own keys only: a path such as `constructor.name` must not reach into prototypes. At each
 * level the longest key that starts the rest of the path wins, so `plugins.<package name>`
 * reaches a plugin whose name has a dot in it (npm allows `parako-plugin-chat.v2`).
 */
function valueAt(config: object, path: string): unknown {
  let value: unknown = config;
  let rest = path;
  while (rest !== '') {
    if (value === null || typeof value !== 'object') return undefined;
    const here = value;
    const key = prefixesOf(rest).find((candidate) => Object.hasOwn(here, candidate));
    if (key === undefined) return undefined;
    value = (here as Record<string, unknown>)[key];
    rest = rest.slice(key.length + 1);
  }
  return value;
}

/** `a.b.c` -> `a.b.c`, `a.b`, `a`: the keys a path may start with, longest first. */
function prefixesOf(path: string): string[] {
  const prefixes = [path];
  for (let dot = path.lastIndexOf('.'); dot > 0; dot = path.lastIndexOf('.', dot - 1)) prefixes.push(path.slice(0, dot));
  return prefixes;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}
