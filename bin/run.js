#!/usr/bin/env node
import {accessSync, constants, existsSync, readFileSync} from 'node:fs';
import {arch, platform, release} from 'node:os';
import {join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

// One plugin store per host: root's, sudo's and cron's runs must all see the plugins an
// operator installed, and oclif's default data dir is per user (docs/plugins/managing.md).
process.env.PARAKO_DATA_DIR ||= '/var/lib/parako';

const args = process.argv.slice(2);
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const storeFile = join(process.env.PARAKO_DATA_DIR, 'package.json');

// `parako --version` without a plugin store prints what oclif would print (its userAgent),
// without loading oclif: nothing oclif would load could add to it. Only installed and linked
// plugins could (an oclif `init` or `finally` hook runs even for --version, and the trust
// check's warnings belong on every run), and the bundled ones declare no such hook
// (test/integration/startup.test.ts). WSL, DEBUG output and other platforms take oclif's path.
if (printsVersionOnly(args)) {
  process.stdout.write(`${pjson.name}/${pjson.version} ${platform()}-${arch()} node-${process.version}\n`);
  process.exit(0);
}

// `parako status` in its plain forms, without oclif, where oclif would load nothing that could
// add to it: the same test as --version's (src/cli/fast-status.ts).
if (args[0] === 'status' && noPluginCode()) {
  const {parseStatusArgs, runStatus} = await import('../dist/cli/fast-status.js');
  const parsed = parseStatusArgs(args.slice(1), process.env);
  if (parsed !== undefined) process.exit(await runStatus(parsed));
}

const {execute, settings} = await import('@oclif/core');

// Plugins import {defineHook} from 'parako' without a copy of their own: they get this
// installation's SDK (src/hooks/plugin-imports.ts). oclif itself runs a plugin's code only for
// installed and linked ones (their commands, oclif hooks) and `parako plugins` loads the
// plugins it installs or links; for those the resolve hook is registered now. Bundled plugins
// bring hooks and providers only, which parako's own hook runner loads after registering it.
if (existsSync(storeFile) || args0IsPlugins(args)) (await import('../dist/hooks/plugin-imports.js')).resolvePluginImports();

// `parako plugins install ./my-plugin-1.0.0.tgz`: plugin-plugins takes a bare path for a GitHub
// "org/repo" and npm resolves a relative `file:` against the data dir, so a local tarball is
// handed on as `file:<absolute path>`.
if (installsPlugins(args)) {
  for (let i = 3; i < process.argv.length; i++) {
    const tarball = /^(?:file:)?([^:]+\.(?:tgz|tar\.gz))$/.exec(process.argv[i]);
    if (tarball) process.argv[i] = `file:${resolve(tarball[1])}`;
  }
}

// `parako plugins …` runs npm. npm reads the user config of whoever runs it (root's, or the
// sudo user's ~/.npmrc), so the same command could install from another registry, or print
// warnings about settings meant for other tools (`Unknown user config "nodedir"`), depending on
// the shell. The host's plugin store has its own npm config instead: <data dir>/npmrc, where
// an operator puts registry, proxy or cafile settings for plugin installs
// (docs/plugins/managing.md). An explicit npm_config_userconfig still wins.
if (args0IsPlugins(args)) {
  if (!process.env.npm_config_userconfig && !process.env.NPM_CONFIG_USERCONFIG) process.env.npm_config_userconfig = join(process.env.PARAKO_DATA_DIR, 'npmrc');
  // The npm that installs plugins is parako's own: news of a newer npm is not for the operator.
  process.env.npm_config_update_notifier = 'false';
}

// A root-run updater runs the compiled files a plugin declares, never its TypeScript sources
// (oclif would otherwise try to transpile a linked plugin's src/ on the fly).
settings.enableAutoTranspile = false;

// A user other than root on a host whose store is root's alone (the .deb makes it 0700): oclif
// would print a raw EACCES warning on every command. Its plugins are left unloaded instead, and
// parako's own store check names the problem where it matters (parako hooks, the gating points).
const root = fileURLToPath(import.meta.url);
const dataDir = process.env.PARAKO_DATA_DIR;
let loadOptions = {root, userPlugins: storeReadable(dataDir)};
// Plugin code runs as root: before oclif reads the store (and runs code from what it lists),
// every installed and linked plugin's files are checked to be root's alone
// (src/hooks/plugin-trust.ts). Without a store there is nothing to check.
const trust = existsSync(storeFile) || process.env.PARAKO_UNCHECKED_PLUGINS !== undefined;
if (trust) loadOptions = await (await import('../dist/hooks/trusted-load.js')).trustedLoadOptions(root, dataDir, loadOptions.userPlugins);
// `plugins link` runs npm, and oclif loads the folder, as soon as it is linked: say at once
// when the folder would be refused at the next update.
const linked = linkedFolder(args);
if (linked !== undefined) await warnAboutFolder(linked);

await execute({loadOptions});

if (installsPlugins(args) && process.exitCode === undefined) await warnAboutStore();

async function warnAboutFolder(folder) {
  const {checkPluginFolder, checksBypassed} = await import('../dist/hooks/plugin-trust.js');
  const refusal = checksBypassed() ? undefined : checkPluginFolder(resolve(folder));
  if (refusal === undefined) return;
  process.stderr.write(`parako: WARNING: ${refusal.why}, so a user other than root could change code that would run as root. Updates and rollbacks will refuse to run with this plugin linked. Fix: ${refusal.fix}\n`);
}

async function warnAboutStore() {
  const {checkPluginStore} = await import('../dist/hooks/plugin-trust.js');
  const {describeRefusal} = await import('../dist/hooks/trusted-load.js');
  const report = checkPluginStore(dataDir);
  for (const refusal of report.store === undefined ? report.refused : [report.store]) {
    process.stderr.write(`parako: WARNING: ${describeRefusal(refusal)}. Updates and rollbacks will refuse to run until it is fixed.\n`);
  }
}

/** The store's package.json can be read, or there is none (nothing to load either way). */
function storeReadable(dataDir) {
  try {
    accessSync(join(dataDir, 'package.json'), constants.R_OK);
    return true;
  } catch (error) {
    return error.code === 'ENOENT' || error.code === 'ENOTDIR';
  }
}

/**
 * oclif's own test for a version flag (versionAddition in @oclif/core's main.js), on a host
 * where oclif would load nothing that could print more: no plugin store and no unchecked
 * plugins (the same test as `trust` below), Linux without a sign of WSL (oclif would say
 * `wsl-x64`; is-wsl's signs), and no DEBUG (oclif's debug lines).
 */
function printsVersionOnly(args) {
  const versionFlags = new Set(['--version', ...(pjson.oclif?.additionalVersionFlags ?? [])]);
  if (!versionFlags.has(args[0]) || !noPluginCode()) return false;
  if (platform() !== 'linux' || arch() === 'ia32') return false;
  return !mayBeWsl();
}

/** No plugin store and no unchecked plugins: oclif would run no plugin's oclif hook. Nor DEBUG (oclif's debug lines). */
function noPluginCode() {
  return !existsSync(storeFile) && process.env.PARAKO_UNCHECKED_PLUGINS === undefined && process.env.DEBUG === undefined;
}

function mayBeWsl() {
  if (release().toLowerCase().includes('microsoft')) return true;
  if (existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')) return true;
  try {
    return readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft');
  } catch {
    return true; // cannot tell: oclif's path decides
  }
}

/** Any `plugins` command (`plugins`, `plugins install`, `plugins:link`, …). */
function args0IsPlugins(args) {
  return args[0] === 'plugins' || args[0]?.startsWith('plugins:') === true;
}

/** The folder of `plugins link [flags] FOLDER`, or undefined for any other command. */
function linkedFolder(args) {
  const id = args[0]?.includes(':') ? args[0] : `${args[0]}:${args[1]}`;
  if (id !== 'plugins:link') return undefined;
  return args.slice(args[0].includes(':') ? 1 : 2).find((arg) => !arg.startsWith('-'));
}

/** `plugins install`, `plugins add`, or their `plugins:install` spelling. */
function installsPlugins(args) {
  const id = args[0]?.includes(':') ? args[0] : `${args[0]}:${args[1]}`;
  return id === 'plugins:install' || id === 'plugins:add';
}
