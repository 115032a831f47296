import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {Command, Flags, type Interfaces} from '@oclif/core';

import type {HostConfig} from '../core/config.js';
import {messageOf, UsageError} from '../core/errors.js';
import {DEFAULT_DIR, Layout, refuseSourceInstall} from '../core/layout.js';
import {createLogger, LOG_LEVELS, type Logger, type LogLevel} from '../core/logger.js';
import type {OperationEnv, OperationResult} from '../core/operation.js';
import type {HookRunner} from '../hooks/runner.js';
import {errorResult} from './error-result.js';
import {printResult} from './print-result.js';
import {Terminal, writeText} from './terminal.js';

export type BaseFlags = Interfaces.InferredFlags<(typeof ParakoCommand)['baseFlags']>;

/**
 * What every parako command shares: --dir, --json, --log-level, the logger, and the one
 * place where a result or an error becomes output and an exit code.
 *
 * The config schema (zod), the HTTP client (undici) and the hook runner are imported by
 * environment(), not here: `status` and `hooks` never need them, and every module imported at
 * the top of this file is paid for by every command's start-up (docs/performance.md).
 */
export abstract class ParakoCommand extends Command {
  static override baseFlags = {
    dir: Flags.string({description: 'install dir', env: 'PARAKO_DIR', default: DEFAULT_DIR, helpGroup: 'GLOBAL'}),
    json: Flags.boolean({description: 'print one JSON result object on stdout', default: false, helpGroup: 'GLOBAL'}),
    'log-level': Flags.option({options: LOG_LEVELS, default: 'warn' as LogLevel, description: 'level of the JSON logs on stderr', helpGroup: 'GLOBAL'})(),
  };

  protected terminal = new Terminal(false);
  private json = false;
  private readonly abort = new AbortController();

  /** The command's work; a thrown ParakoError becomes its exit code. */
  protected abstract execute(): Promise<OperationResult>;

  /** Whether this command changes the install dir (and so logs into .parako/parako.log). */
  protected writesLog(): boolean {
    return false;
  }

  public async run(): Promise<void> {
    this.json = process.argv.includes('--json');
    this.terminal = new Terminal(this.json);
    this.trapSignals();
    let result: OperationResult;
    try {
      result = await this.execute();
    } catch (error) {
      result = errorResult(error);
    }
    printResult(result, this.json);
    process.exitCode = result.code;
  }

  /** Parses flags, turning oclif's parse errors into our usage error (code 2). */
  protected async parseFlags<T extends typeof Command>(command: T): Promise<Interfaces.ParserOutput<Interfaces.InferredFlags<T['flags']> & BaseFlags, Interfaces.InferredFlags<T['baseFlags']>, Interfaces.InferredArgs<T['args']>>> {
    try {
      return (await this.parse(command)) as never;
    } catch (error) {
      throw new UsageError(messageOf(error), {next: `parako ${this.id ?? ''} --help shows the flags`});
    }
  }

  protected async environment(flags: BaseFlags, options: {dryRun?: boolean} = {}): Promise<OperationEnv> {
    const layout = new Layout(flags.dir);
    // Refused before the config and the log file: a source checkout must not gain a .parako/.
    if (this.writesLog()) await refuseSourceInstall(layout);
    const [{CONFIG_FILE, loadConfig}, {createHttpClient}] = await Promise.all([import('../core/config.js'), import('../core/http.js')]);
    const config = await loadConfig(layout.dir);
    const log = this.logger(flags, layout, options.dryRun !== true && this.writesLog());
    return {
      layout,
      config,
      log,
      hooks: await this.hookRunner(config, log, join(layout.dir, CONFIG_FILE)),
      http: createHttpClient(),
      out: this.terminal,
      signal: this.abort.signal,
      tmpDir: process.env.TMPDIR ?? tmpdir(),
    };
  }

  protected logger(flags: BaseFlags, layout: Layout, toFile: boolean): Logger {
    return createLogger({level: flags['log-level'], file: toFile ? layout.logFile : undefined}).child({command: this.id});
  }

  protected async hookRunner(config: HostConfig, log: Logger, configFile: string): Promise<HookRunner> {
    const [{discoverHooks, discoverProviders, HookRunner}, {trustReport, UNCHECKED_PLUGINS_ENV}, {unloadedPlugins}] = await Promise.all([
      import('../hooks/runner.js'),
      import('../hooks/plugin-trust.js'),
      import('../hooks/store.js'),
    ]);
    const unloaded = await unloadedPlugins(this.config.dataDir, new Set(this.config.plugins.keys()));
    // The run's log keeps what its stderr said: plugins were loaded unchecked.
    if (trustReport(this.config.dataDir).unchecked) log.warn({env: UNCHECKED_PLUGINS_ENV}, 'plugins were loaded without checking who can change their files');
    const refused = unloaded.plugins.find((p) => p.refused !== undefined);
    const broken = [
      ...unloaded.plugins.map((p) =>
        p.refused === undefined
          ? `plugin ${p.plugin} (${p.type}${p.root === undefined ? '' : ` from ${p.root}`}) could not be loaded`
          : `plugin ${p.plugin} (${p.type}${p.root === undefined ? '' : ` from ${p.root}`}) was not loaded: ${p.refused.why}, so a user other than root could change code that runs as root; fix: ${p.refused.fix}`,
      ),
      ...(unloaded.problem === undefined ? [] : [unloaded.problem]),
    ];
    const runner = new HookRunner(discoverHooks(this.config), {
      log,
      config,
      providers: discoverProviders(this.config),
      order: config.hooks?.order,
      timeoutSeconds: config.hooks?.timeoutSeconds,
      broken: broken.length > 0 ? broken.join('; ') : undefined,
      brokenNext: refused === undefined ? undefined : `${refused.refused!.fix}, then run this again; or remove the plugin: parako plugins uninstall ${refused.plugin}. Nothing was changed`,
    });
    await runner.prepare(configFile);
    return runner;
  }

  /** First SIGINT/SIGTERM: stop before the swap; after it the operation finishes. A second one exits. */
  private trapSignals(): void {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      received++;
      if (received > 1) process.exit(130);
      writeText(process.stderr, `parako: ${signal} received: stopping at the next safe point (again to force)\n`);
      this.abort.abort(new Error(signal));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}
