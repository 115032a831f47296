import {CONFIG_FILE} from '../core/config.js';

/**
 * Whether a plugin acts with this host's parako.json. A plugin declares it as data in its
 * package.json, `"parako": {"actsWhen": {"supervisor.type": "runit"}}`: dotted paths into
 * parako.json and the string each must equal. A plugin without the declaration acts on
 * every run.
 */
export type Verdict =
  | {acts: true; /** it declares no condition */ everyRun: boolean; why: string}
  | {acts: false; why: string; /** the declaration itself is wrong */ problem?: true};

const EVERY_RUN: Verdict = {acts: true, everyRun: true, why: 'declares no condition'};

/** The verdict for one plugin; `why` is in the operator's words. `config` is null without a parako.json. */
export function actsWhen(declaration: unknown, config: object | null): Verdict {
  if (declaration === undefined) return EVERY_RUN;
  const conditions = conditionsOf(declaration);
  if (conditions === undefined) {
    return {
      acts: false,
      problem: true,
      why: `its package.json has parako.actsWhen ${JSON.stringify(declaration)}, which is not a map of ${CONFIG_FILE} paths to strings, e.g. {"supervisor.type": "runit"}`,
    };
  }
  if (conditions.length === 0) return EVERY_RUN;
  if (config === null) return {acts: false, why: `no ${CONFIG_FILE}`};
  for (const [path, wanted] of conditions) {
    const value = valueAt(config, path);
    if (value === undefined) return {acts: false, why: `${CONFIG_FILE} sets no ${path}, this plugin acts when it is ${JSON.stringify(wanted)}`};
    if (value !== wanted) return {acts: false, why: `${path} is ${describe(value)} in ${CONFIG_FILE}, this plugin acts when it is ${JSON.stringify(wanted)}`};
  }
  const matched = conditions.map(([path, wanted]) => `${path} is ${JSON.stringify(wanted)}`).join(', ');
  return {acts: true, everyRun: false, why: `${matched} in ${CONFIG_FILE}`};
}

/** The verdict as one phrase: `acts on every run: …`, `acts: …`, `idle: …` or `PROBLEM: …`. */
export function describeVerdict(verdict: Verdict): string {
  if (verdict.acts) return verdict.everyRun ? `acts on every run: ${verdict.why}` : `acts: ${verdict.why}`;
  return verdict.problem === true ? `PROBLEM: ${verdict.why}` : `idle: ${verdict.why}`;
}

function conditionsOf(declaration: unknown): Array<[string, string]> | undefined {
  if (declaration === null || typeof declaration !== 'object' || Array.isArray(declaration)) return undefined;
  const entries = Object.entries(declaration);
  return entries.every((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== '') ? entries : undefined;
}

/** Own keys only: a path such as `constructor.name` must not reach into prototypes. */
function valueAt(config: object, path: string): unknown {
  let value: unknown = config;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}
