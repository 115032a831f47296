/**
 * StrictModes for plugins: a plugin's code runs as root at every update, so parako loads it
 * only from files and folders that nobody but root (or the user running parako) can change,
 * as sshd treats authorized_keys and sudo its sudoers file (docs/plugins/managing.md, "Who may
 * change a plugin"). The check runs in bin/run.js before oclif reads the plugin store, because
 * oclif itself runs code from a plugin as it loads it (its `init` hook, its commands when it
 * ships no manifest).
 */
import {readFileSync, realpathSync} from 'node:fs';
import {join, sep} from 'node:path';

import {describeUnsafe, findUnsafeFolder, findUnsafeInTree, type UnsafeFolder} from '../core/safe-dir.js';
import {parseStoreEntries} from './store-file.js';

/** Set to 1 on a development machine to load plugins without the check; never a config key. */
export const UNCHECKED_PLUGINS_ENV = 'PARAKO_UNCHECKED_PLUGINS';

/** One store entry, as `parako plugins` writes it into `<data dir>/package.json`. */
export interface StoreEntry {
  name: string;
  type: 'user' | 'link';
  /** A linked plugin's folder; an installed one lives in `<data dir>/node_modules/<name>`. */
  root?: string;
}

/** Why a plugin (or the whole store) is not loaded. */
export interface Refusal {
  /** The plugin's name, or undefined for the store itself. */
  plugin?: string;
  /** The folder that was checked: the plugin's root, or the store. */
  root: string;
  unsafe: UnsafeFolder;
  /** One line for the operator: the path, its owner and mode, and what makes it unsafe. */
  why: string;
  /** The shell command that makes it pass. */
  fix: string;
}

export interface TrustReport {
  dataDir: string;
  /** The environment variable was set: nothing was checked. */
  unchecked: boolean;
  /** The store itself failed: no installed or linked plugin was loaded. */
  store?: Refusal;
  /** Plugins that failed; the others passed and are loaded. */
  refused: Refusal[];
  /** The entries the store lists, as read (empty without a store). */
  entries: StoreEntry[];
}

let recorded: TrustReport | undefined;

/** Keeps the verdict bin/run.js reached before loading, for the commands that report it. */
export function recordTrust(report: TrustReport): void {
  recorded = report;
}

/** The verdict reached at start-up, or a fresh one (a command run without bin/run.js). */
export function trustReport(dataDir: string): TrustReport {
  return recorded?.dataDir === dataDir ? recorded : checkPluginStore(dataDir);
}

export function checksBypassed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[UNCHECKED_PLUGINS_ENV] === '1';
}

/** The line every run prints while the check is off. */
export function bypassWarning(): string {
  return `parako: WARNING: ${UNCHECKED_PLUGINS_ENV}=1 is set: plugins are loaded without checking who can change their files. Use this on a development machine only; unset it on any host that runs production.`;
}

/**
 * Judges the store at `dataDir` and every plugin it lists. Reads nothing but directory
 * entries, modes and owners: no plugin code is loaded here.
 */
export function checkPluginStore(dataDir: string, env: NodeJS.ProcessEnv = process.env): TrustReport {
  const entries = readEntries(dataDir);
  const report: TrustReport = {dataDir, unchecked: checksBypassed(env), refused: [], entries: entries ?? []};
  if (report.unchecked || entries === undefined) return report;
  // Installed plugins are judged one by one; everything else in the store (its package.json,
  // the plugins' shared dependencies, npmrc) belongs to them all.
  const realStore = realpathSync(dataDir);
  const installed = entries.filter((entry) => entry.type === 'user');
  const own = new Set(installed.map((entry) => join(realStore, 'node_modules', ...entry.name.split('/'))));
  const storeUnsafe = guarded(() => findUnsafeInTree(dataDir, own), dataDir);
  if (storeUnsafe !== undefined) return {...report, store: refusal(undefined, dataDir, storeUnsafe)};
  for (const entry of entries) {
    const root = entry.type === 'link' ? entry.root : join(realStore, 'node_modules', ...entry.name.split('/'));
    if (root === undefined) continue; // a link entry without a folder cannot load; the store listing names it
    const unsafe = guarded(() => findUnsafeInTree(root), root);
    if (unsafe !== undefined) report.refused.push(refusal(entry.name, root, unsafe));
  }
  return report;
}

/** The check for one folder about to be linked: undefined when it passes. */
export function checkPluginFolder(root: string): Refusal | undefined {
  const unsafe = guarded(() => findUnsafeInTree(root), root);
  return unsafe === undefined ? undefined : refusal(undefined, root, unsafe);
}

/** The entries of `<dataDir>/package.json`, or undefined when there is none (or it cannot be read: oclif then loads nothing). */
function readEntries(dataDir: string): StoreEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'package.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    // oclif loads user and link entries only; the trust check judges what it will load.
    return parseStoreEntries(text).flatMap((entry): StoreEntry[] => (entry.type === 'link' ? [{name: entry.name, type: 'link', ...(entry.root === undefined ? {} : {root: entry.root})}] : entry.type === 'user' ? [{name: entry.name, type: 'user'}] : []));
  } catch {
    return undefined; // not JSON: oclif loads no user plugin, and the store listing names the problem
  }
}

/** A folder that cannot even be read (EACCES for a non-root user) cannot be vouched for. */
function guarded(check: () => UnsafeFolder | undefined, root: string): UnsafeFolder | undefined {
  try {
    return check();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const path = (error as NodeJS.ErrnoException).path ?? root;
    return {path, owner: '?', mode: 0, why: `cannot be checked (${code})`, isLink: false};
  }
}

function refusal(plugin: string | undefined, root: string, unsafe: UnsafeFolder): Refusal {
  const why = unsafe.owner === '?' ? `${unsafe.path} ${unsafe.why}` : describeUnsafe(unsafe);
  return {...(plugin === undefined ? {} : {plugin}), root, unsafe, why, fix: fixFor(root, unsafe)};
}

/**
 * The command that makes the check pass. Inside the plugin's own folder everything is handed
 * to root; above it only the one folder is tightened, since it may hold other people's files.
 */
function fixFor(root: string, unsafe: UnsafeFolder): string {
  const quoted = shellWord(root);
  if (unsafe.owner === '?') return `run it as root, or make ${quoted} readable to the user running parako`;
  if (unsafe.path === root || unsafe.path.startsWith(`${root}${sep}`)) return `chown -R root:root ${quoted} && chmod -R go-w ${quoted}`;
  const path = shellWord(unsafe.path);
  if (unsafe.isLink) return `replace the symlink ${path} with one root owns, or move the plugin to a folder root owns (for example /usr/local/lib/parako-plugins/)`;
  const steps = [
    ...(unsafe.why.startsWith('belongs to') ? [`chown root:root ${path}`] : []),
    ...(unsafe.why.startsWith('is writable') ? [`chmod go-w ${path}`] : []),
  ];
  return `${steps.join(' && ')}, or move the plugin to a folder root owns (for example /usr/local/lib/parako-plugins/)`;
}

function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
