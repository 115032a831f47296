/**
 * `parako init-plugin`: a new in-house plugin package from templates/plugin, with its name
 * and its build-time dependency on this parako filled in.
 */
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises';
import {basename, dirname, join, relative} from 'node:path';

import {UsageError} from './errors.js';

export interface ScaffoldOptions {
  /** templates/plugin of the running installation. */
  templateDir: string;
  /** The new plugin's folder: missing or empty. */
  dir: string;
  /** The npm package name; default `parako-plugin-<basename of dir>`. */
  name?: string;
  /** The running parako's package root: the plugin's devDependency for types and its own tests. */
  parakoRoot: string;
}

/**
 * npm's rules for a new package name (what validate-npm-package-name checks): lower case,
 * URL-safe, at most 214 characters, optionally scoped, not starting with . or _.
 */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/;

/**
 * npm drops a package's `.gitignore` when packing it, so the template ships it as
 * `gitignore` and it gets its dot here.
 */
const RENAMED: Record<string, string> = {gitignore: '.gitignore'};

export function defaultPluginName(dir: string): string {
  const base = basename(dir);
  return base.startsWith('parako-plugin-') ? base : `parako-plugin-${base}`;
}

export function checkPackageName(name: string): void {
  if (name.length > 214 || !PACKAGE_NAME.test(name) || name === 'node_modules' || name === 'favicon.ico') {
    throw new UsageError(`"${name}" is not a valid npm package name (lower case letters, digits, - . _ ~, optionally @scope/; at most 214 characters)`, {
      next: 'pick one with --name, e.g. --name parako-plugin-probe',
    });
  }
}

/** Copies the template into `dir`; refuses (code 2, nothing written) when `dir` has anything in it. */
export async function scaffoldPlugin(options: ScaffoldOptions): Promise<{name: string; files: string[]}> {
  const name = options.name ?? defaultPluginName(options.dir);
  checkPackageName(name);
  const existing = await readdir(options.dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw new UsageError(`cannot use ${options.dir}: ${error.message}`, {next: 'pick a new folder for the plugin'});
  });
  if (existing.length > 0) {
    throw new UsageError(`${options.dir} already exists and is not empty; nothing was written`, {
      next: 'pick a new folder: parako init-plugin <new dir>',
    });
  }
  const placeholders: Record<string, string> = {
    __PLUGIN_NAME__: name,
    // It stands inside a JSON string in package.json.
    __PARAKO_DEPENDENCY__: JSON.stringify(`file:${options.parakoRoot}`).slice(1, -1),
  };
  const written: string[] = [];
  for (const file of await templateFiles(options.templateDir)) {
    let text = await readFile(join(options.templateDir, file), 'utf8');
    for (const [placeholder, value] of Object.entries(placeholders)) text = text.replaceAll(placeholder, value);
    const target = join(dirname(file), RENAMED[basename(file)] ?? basename(file));
    await mkdir(join(options.dir, dirname(target)), {recursive: true});
    await writeFile(join(options.dir, target), text);
    written.push(target);
  }
  return {name, files: written};
}

/** Every file under the template, as paths relative to it, sorted. */
async function templateFiles(templateDir: string): Promise<string[]> {
  const entries = await readdir(templateDir, {recursive: true, withFileTypes: true});
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(templateDir, join(entry.parentPath, entry.name)))
    .sort();
}
