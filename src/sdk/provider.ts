/**
 * What a plugin provides besides its hooks: its settings (the section of parako.json it owns,
 * and how to validate it) and capabilities that the core and other plugins use without
 * knowing the plugin's name. A plugin declares the module in its package.json,
 * `"parako": {"provides": "./dist/provides.js"}`, whose default export is `defineProvider(…)`.
 * The core loads it only when the plugin acts with this host's parako.json.
 */
import type {HookContext} from './contract.js';

/** One problem with a value, as a Standard Schema validator reports it. */
export interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | {readonly key: PropertyKey}>;
}

/**
 * A validator in the Standard Schema shape (https://standardschema.dev): zod 4, valibot and
 * arktype schemas are ones as they are; a hand-written `{'~standard': {version: 1, vendor,
 * validate}}` works too. The SDK names no validation library.
 */
export interface StandardSchema<Output> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): {value: Output; issues?: undefined} | {issues: ReadonlyArray<SchemaIssue>} | Promise<{value: Output; issues?: undefined} | {issues: ReadonlyArray<SchemaIssue>}>;
  };
}

export interface SettingsDeclaration<S> {
  /**
   * Where the section is in parako.json, as a dotted path: `supervisor` or `backup` for the
   * plugin that acts on their `type`, otherwise `plugins.<package name>`.
   */
  key: string;
  schema: StandardSchema<S>;
  /** The section's JSON Schema, for editors (`npm run schema` puts it into docs/parako.schema.json). */
  jsonSchema?: Record<string, unknown>;
  /** Whether the section must be there; default true. */
  required?: boolean;
}

/**
 * Validates a section of parako.json with the schema its plugin declares, as parako does at
 * start-up: the value, or the problems exactly as the operator reads them, each led by the key
 * at fault (`supervisor.units: …`, `backup: unknown key "pasword"`). `problems` is empty when valid.
 */
export async function validateSettings<S>(declared: SettingsDeclaration<S>, section: unknown): Promise<{value?: S; problems: string[]}> {
  const result = await declared.schema['~standard'].validate(section);
  if (result.issues === undefined) return {value: result.value, problems: []};
  return {problems: result.issues.map((issue) => describeIssue(declared.key, issue))};
}

function describeIssue(key: string, issue: SchemaIssue): string {
  const path = [key, ...(issue.path ?? []).map((part) => String(typeof part === 'object' ? part.key : part))].join('.');
  // zod's wording; "unknown key" is what the operator of a hand-written parako.json understands.
  const unknown = /^Unrecognized keys?: (.*)$/.exec(issue.message);
  return `${path}: ${unknown === null ? issue.message : `unknown key ${unknown[1]}`}`;
}

/** Where the install is: enough to turn relative paths in a section into absolute ones. */
export interface InstallView {
  app: string;
  /** The install dir. */
  dir: string;
}

/** Shell lines an operator pastes, each already quoted. */
export interface ServiceCommands {
  stop: string;
  start: string;
  restart: string;
}

/** What a supervisor plugin tells the core and the other plugins about the service it runs. */
export interface SupervisorCapability<S> {
  /** What a restart restarts, one item a line, for the dry run's plan: `<kind> <name>`. */
  describe(settings: S, install: InstallView): string[];
  /** How the operator stops, starts and restarts the service by hand (a restore, say). */
  commands(settings: S, install: InstallView): ServiceCommands;
}

/** What a backup plugin tells the core about the backup it takes. */
export interface BackupCapability<S> {
  /** What it backs up, for the plan and messages: `PostgreSQL database shop`. */
  describe(settings: S, install: InstallView): string;
}

export interface Provider<S = unknown> {
  settings?: SettingsDeclaration<S>;
  supervisor?: SupervisorCapability<S>;
  backup?: BackupCapability<S>;
}

/** A provider as defineProvider returns it: what it was given, and how its hooks read their settings. */
export type DefinedProvider<S> = Provider<S> & {
  /**
   * `ctx.settings`, typed: the section parako validated with `settings.schema` before any hook
   * ran. Throws when there is none (the plugin was called without its provider being prepared,
   * or an optional section is absent: read `ctx.settings` yourself for one declared `required: false`).
   */
  settingsOf(ctx: HookContext): S;
};

/** Types a provider module's default export: its argument, plus settingsOf for the plugin's hooks. */
export function defineProvider<S>(provider: Provider<S>): DefinedProvider<S> {
  const key = provider.settings?.key;
  return {
    ...provider,
    settingsOf(ctx) {
      if (key === undefined) throw new Error('this plugin\'s provider declares no settings, so it has no ctx.settings to read');
      if (ctx.settings === undefined) {
        throw new Error(`parako handed this plugin no ${key} settings (ctx.settings): it needs a parako that validates plugin settings with the plugin's provider before its hooks run (parako.provides, SDK 1.0)`);
      }
      return ctx.settings as S;
    },
  };
}

/** The acting supervisor, as another plugin sees it (`ctx.supervisor`). */
export interface SupervisorView {
  /** The package name of the plugin that runs the service. */
  plugin: string;
  describe(): string[];
  commands(): ServiceCommands;
}

/** Where backups go, and the files a backup plugin writes (`ctx.backups`). */
export interface BackupFiles {
  /** backupDir of parako.json, absolute (default: backups/ in the install dir). */
  folder: string;
  /**
   * Refuses (throws) a backup folder that a user other than root could change: the folder or
   * any folder above it. Call it before dumping anything, and in a dry run.
   */
  checkFolder(): void;
  /** `<folder>/<app>-pre-v<version>-<UTC time>.<ext>`; with `at` a placeholder for the time. */
  pathFor(ext: string, at?: string): string;
  /** Creates the file a backup tool writes: 0600 in a private folder, renamed into place by commit(). */
  prepare(ext: string): Promise<BackupFile>;
}

export interface BackupFile {
  /** Where the finished backup will be. */
  path: string;
  /** Where the tool writes; renamed to `path` by commit(). */
  tempPath: string;
  /** fsyncs and renames the temp file into place; refuses an empty file. Returns its size. */
  commit(): Promise<number>;
  /** Removes whatever was written. */
  discard(): Promise<void>;
}
