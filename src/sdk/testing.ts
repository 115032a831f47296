/**
 * Hooks are plain functions of `{ctx}`: a plugin's unit tests call them with a context made
 * here, without parako running. testContext fills every field the way parako would for an
 * update of `demo-app` from v1.0.0 to v1.1.0 in /opt/demo-app, with harmless stand-ins (an
 * `exec` that succeeds and prints nothing, no supervisor, a backup folder that refuses to be
 * written to); `over` replaces any of them. What the hook says, logs and records is collected
 * for the test to assert on.
 */
import type {HookContext, HookPoint, LogFn, PluginLogger} from './contract.js';
import type {BackupFiles} from './provider.js';

export interface LoggedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message?: string;
}

export interface TestContext {
  ctx: HookContext;
  /** Each ctx.say(message), unprefixed. */
  said: string[];
  /** Each ctx.log call, child loggers included. */
  logged: LoggedLine[];
  /** What ctx.record kept, by key. */
  recorded: Record<string, unknown>;
}

export function testContext(point: HookPoint, over: Partial<HookContext> = {}): TestContext {
  const said: string[] = [];
  const logged: LoggedLine[] = [];
  const recorded: Record<string, unknown> = {};
  const logger = (bindings: Record<string, unknown>): PluginLogger => {
    const at = (level: LoggedLine['level']): LogFn => (first: string | Record<string, unknown>, message?: string) => {
      if (typeof first === 'string') logged.push({level, fields: {...bindings}, message: first});
      else logged.push({level, fields: {...bindings, ...first}, message});
    };
    return {debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => logger({...bindings, ...more})};
  };
  const dir = '/opt/demo-app';
  const ctx: HookContext = {
    point,
    operation: 'update',
    dryRun: false,
    app: 'demo-app',
    dir,
    from: {version: '1.0.0', path: `${dir}/releases/v1.0.0`},
    to: {version: '1.1.0', path: `${dir}/releases/v1.1.0`},
    config: {app: 'demo-app', keepReleases: 3},
    log: logger({}),
    signal: new AbortController().signal,
    exec: async () => ({code: 0, stdout: '', stderr: ''}),
    record: (key, value) => {
      recorded[key] = value;
    },
    say: (message) => said.push(message),
    backups: noBackups(`${dir}/backups`),
    ...over,
  };
  return {ctx, said, logged, recorded};
}

/** A test that wants backup files passes its own `backups`; these refuse, so nothing is written by accident. */
function noBackups(folder: string): BackupFiles {
  const refuse = (): never => {
    throw new Error('testContext has no backup folder: pass {backups} to write backup files in a test');
  };
  return {folder, checkFolder: () => undefined, pathFor: (ext, at = '20260101T000000Z') => `${folder}/demo-app-pre-v1.1.0-${at}.${ext}`, prepare: async () => refuse()};
}
