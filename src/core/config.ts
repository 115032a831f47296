import {readFile} from 'node:fs/promises';
import {join} from 'node:path';

import semver from 'semver';
import {z} from 'zod';

import {ConfigError} from './errors.js';

import {HOOK_POINTS} from '../sdk/contract.js';

export {HOOK_POINTS, type HookPoint} from '../sdk/contract.js';

const httpUrl = z.url({protocol: /^https?$/, error: 'must be an http:// or https:// URL'});
const userName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*\$?$/, 'must be a system user name');
const nonEmpty = z.string().min(1);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

/** `cosign verify-blob --key`: the configured key is the only one accepted. */
export interface KeyPolicy {
  key: string;
  trustedRoot?: string;
  requireTlog?: boolean;
}

/** `cosign verify-blob --certificate-identity[-regexp] --certificate-oidc-issuer`. */
export interface KeylessPolicy {
  issuer: string;
  identity?: string;
  identityRegExp?: string;
  trustedRoot?: string;
  requireTlog?: boolean;
}

export type VerifyPolicy = KeyPolicy | KeylessPolicy;

// One object with every field, so a mistake gets a message naming it (a zod union would only
// say "Invalid input"); the refinement then demands exactly one of the two modes.
export const verifyPolicySchema = z
  .strictObject({
    key: nonEmpty.optional().describe('path to a PEM public key, like cosign --key'),
    issuer: httpUrl.optional().describe('OIDC issuer of the signing certificate, like cosign --certificate-oidc-issuer'),
    identity: nonEmpty.optional().describe('exact signer identity (SAN), like cosign --certificate-identity'),
    identityRegExp: nonEmpty.optional().describe('signer identity pattern, like cosign --certificate-identity-regexp'),
    trustedRoot: nonEmpty.optional().describe('path to a Sigstore trusted_root.json (private instance / air-gapped)'),
    requireTlog: z.boolean().optional().describe('require a transparency-log entry (default: true keyless, false with a key)'),
  })
  .superRefine((policy, issue) => {
    const add = (message: string, path: string[] = []): void => issue.addIssue({code: 'custom', message, path});
    if (policy.key !== undefined && policy.issuer !== undefined) add('give "key" (key-based) or "issuer" (keyless), not both');
    if (policy.key === undefined && policy.issuer === undefined) {
      add('needs "key" (a PEM public key file) or "issuer" with "identity" or "identityRegExp" (keyless); verification cannot be turned off');
    }
    if (policy.key !== undefined && (policy.identity !== undefined || policy.identityRegExp !== undefined)) {
      add('"identity"/"identityRegExp" go with "issuer" (keyless), not with "key"');
    }
    if (policy.issuer !== undefined && policy.identity === undefined && policy.identityRegExp === undefined) {
      add('keyless verification needs "identity" or "identityRegExp" next to "issuer"');
    }
    if (policy.identity !== undefined && policy.identityRegExp !== undefined) add('give "identity" or "identityRegExp", not both');
    if (policy.identityRegExp !== undefined) {
      try {
        new RegExp(policy.identityRegExp);
      } catch (error) {
        add(`is not a valid regular expression (${(error as Error).message})`, ['identityRegExp']);
        return;
      }
      const flaw = identityRegExpFlaw(policy.identityRegExp);
      if (flaw !== undefined) add(flaw, ['identityRegExp']);
    }
  })
  .transform((policy): VerifyPolicy => {
    const common = {trustedRoot: policy.trustedRoot, requireTlog: policy.requireTlog};
    if (policy.key !== undefined) return {key: policy.key, ...common};
    return {issuer: policy.issuer!, identity: policy.identity, identityRegExp: policy.identityRegExp, ...common};
  });

/**
 * Why an identity pattern would let in a signer it does not name, or undefined. It is matched
 * unanchored, as cosign matches --certificate-identity-regexp, so every top-level alternative
 * must start with ^: in `^A|B` the B alternative matches anywhere in an identity, and anyone can
 * put text in theirs (a repository or branch name). A pattern that matches an empty identity
 * (`^`, `^.*`) matches every identity. The pattern must be a valid regular expression.
 */
export function identityRegExpFlaw(pattern: string): string | undefined {
  const alternatives = topLevelAlternatives(pattern);
  const loose = alternatives.find((alternative) => !alternative.startsWith('^'));
  if (loose !== undefined && alternatives.length === 1) {
    return `is not anchored with ^: any identity that merely contains it would be accepted; start it with ^ and the full URL (^https://github\\.com/<org>/<repo>/…)`;
  }
  if (loose !== undefined) {
    const anchored = `^(?:${alternatives.map((alternative) => alternative.replace(/^\^/, '')).join('|')})`;
    return `the alternative "${loose}" is not anchored with ^: any identity that merely contains it would be accepted; anchor every alternative, e.g. ${anchored}`;
  }
  if (new RegExp(pattern).test('')) return 'matches an empty identity, so it accepts every signer; name the signer (^https://github\\.com/<org>/<repo>/…)';
  return undefined;
}

/** `pattern` split at each `|` outside a group and a character class. */
function topLevelAlternatives(pattern: string): string[] {
  const alternatives: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\') i++; // the escaped character is a literal
    else if (inClass) inClass = char !== ']';
    else if (char === '[') inClass = true;
    else if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === '|' && depth === 0) {
      alternatives.push(pattern.slice(start, i));
      start = i + 1;
    }
  }
  alternatives.push(pattern.slice(start));
  return alternatives;
}

// The sections a plugin owns: the core reads only `type` (which plugin acts on it) and leaves
// the rest to that plugin's settings schema, checked when the plugins are prepared
// (src/hooks/runner.ts, prepare; docs/architecture.md §6).
const pluginSection = (what: string) =>
  z.looseObject({type: nonEmpty.describe(`which ${what} plugin acts: its parako.actsWhen value (parako hooks lists them)`)});
const supervisorSchema = pluginSection('supervisor');
const backupSchema = pluginSection('backup');

const hookPointSchema = z.enum(HOOK_POINTS);

export const hostConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  app: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain name: letters, digits, ".", "_", "-"'),
  source: z.strictObject({index: httpUrl.describe('URL of the release feed index.json')}),
  verify: verifyPolicySchema,
  supervisor: supervisorSchema.optional(),
  health: z
    .strictObject({
      url: httpUrl,
      timeoutSeconds: z.number().positive().max(3600).default(60),
      expectVersion: z.boolean().optional().describe('the response body must contain the target version'),
    })
    .optional(),
  backup: backupSchema.optional(),
  backupDir: nonEmpty.optional().describe('where backups go; relative paths are relative to the install dir'),
  migration: z
    .strictObject({
      runAs: userName.optional().describe('the user that runs migration commands (default: root)'),
      env: z
        .record(envName, z.string(), {error: (issue) => (issue.code === 'invalid_key' ? 'is not an environment variable name (letters, digits, "_")' : undefined)})
        .optional()
        .describe("variables the migration gets, NAME: value (\"${NAME}\" passes parako's own); as another user (runAs), all it gets besides PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_* and TZ"),
    })
    .optional(),
  keepReleases: z.number().int().min(2).max(100).default(3),
  updates: z
    .strictObject({
      channel: nonEmpty
        .refine((range) => semver.validRange(range) !== null, 'must be a semver range, e.g. "~1.4" (patches of 1.4) or "^2" (2.x)')
        .optional()
        .describe('the versions this host follows: update to latest and check pick the newest release in this range'),
      hold: z
        .union([z.literal(true), nonEmpty])
        .optional()
        .describe('stay on the current version until this key is removed: true, or the reason, which every run prints'),
      unattended: z
        .strictObject({
          breaking: z.boolean().default(false).describe('update --unattended installs releases with breaking changes'),
          migrations: z.boolean().default(false).describe('update --unattended installs releases that migrate the database, taking the backup and running the migration'),
        })
        .optional(),
    })
    .optional()
    .describe('what this host updates to, and what an update without a person may install (docs/operations.md, Unattended updates)'),
  hooks: z
    .strictObject({
      order: z.array(nonEmpty).optional().describe('plugin names that run first, in this order'),
      timeoutSeconds: z.partialRecord(hookPointSchema, z.number().positive().max(86_400)).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      maxDownloadBytes: z.number().int().positive().optional().describe('largest artifact accepted, whatever size the (unsigned) index claims'),
      maxExtractedBytes: z.number().int().positive().optional(),
      maxEntries: z.number().int().positive().optional(),
    })
    .optional(),
  plugins: z.record(z.string(), z.unknown()).optional().describe('settings of other plugins, keyed by package name; each plugin validates its own'),
});

export type HostConfig = z.output<typeof hostConfigSchema>;

export const CONFIG_FILE = 'parako.json';

/** Reads, expands and validates `<dir>/parako.json`. */
export async function loadConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<HostConfig> {
  const file = join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`no host config at ${file}`, {
        next: `create ${file} (see docs/configuration.md), or point --dir / PARAKO_DIR at the install dir`,
      });
    }
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(expandEnv(raw, env, file), file);
}

export function parseConfig(raw: unknown, file: string): HostConfig {
  const result = hostConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return `${key === '(top level)' ? '' : key + ': '}unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    return `${key}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${file}:\n  ${lines.join('\n  ')}`, {next: 'fix the key(s) named above (docs/configuration.md lists them all)'});
}

/** Replaces `${NAME}` in every string of the config with the environment variable NAME. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, file: string, path: string[] = []): unknown {
  if (typeof value === 'string') {
    return value.replaceAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const found = env[name];
      if (found === undefined) {
        throw new ConfigError(`${file}: ${path.join('.') || '(top level)'}: environment variable ${name} is not set`, {
          next: `export ${name}=… in the environment that runs parako (a service unit's Environment= or EnvironmentFile=, the cron line, the shell)`,
        });
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => expandEnv(item, env, file, [...path, String(index)]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expandEnv(item, env, file, [...path, key])]));
  }
  return value;
}

/** The JSON Schema published in docs/ for editors. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(hostConfigSchema, {io: 'input', unrepresentable: 'any'});
}
