#!/usr/bin/env node
// `npm run package`: parako's own release, from a built checkout, into artifacts/ (or --out DIR):
//
//   parako-<v>.tgz                      npm tarball; carries every dependency, the six first-party
//                                       plugins included, so installing it asks no registry (a
//                                       plain `npm pack` of the checkout does not: it is refused)
//   plugins/parako-plugin-<name>-<v>.tgz  each first-party plugin alone, for `parako plugins install`
//   parako-v<v>-linux-x64.tar.gz        standalone tree with the pinned Node.js (oclif's layout)
//   parako_<v>_amd64.deb                that tree under /usr/lib/parako, parako on PATH
//   SHA256SUMS                          `sha256sum -c SHA256SUMS` checks all of the above
//
// docs/installation.md says how each is installed; docs/publishing.md how they are signed.
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {createReadStream, existsSync} from 'node:fs';
import {chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile} from 'node:fs/promises';
import {basename, dirname, join, relative, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {NODE_RUNTIME, nodeRuntime} from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outFlag = process.argv.indexOf('--out');
const out = resolve(outFlag === -1 ? join(root, 'artifacts') : process.argv[outFlag + 1]);
const pjson = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const {version} = pjson;
// Every file in the tarballs and the .deb gets this time, so the same commit packs the same bytes.
const epoch = process.env.SOURCE_DATE_EPOCH ?? gitCommitTime() ?? String(Math.floor(Date.now() / 1000));

await checkBuilt();
await rm(out, {recursive: true, force: true});
await mkdir(join(out, 'plugins'), {recursive: true});
const scratch = await mkdtemp(join(out, '.scratch-'));
try {
  const npmTarball = await packNpm();
  await packPlugins();
  const tree = await standaloneTree(npmTarball);
  await standaloneTarball(tree);
  await debianPackage(tree);
} finally {
  await rm(scratch, {recursive: true, force: true});
}
await writeChecksums();

/** The compiled CLI, its manifest and every plugin's dist/: `npm run package` builds first. */
async function checkBuilt() {
  const needed = ['dist/index.js', 'oclif.manifest.json', ...(await readdir(join(root, 'plugins'))).map((name) => `plugins/${name}/dist`)];
  const missing = needed.filter((path) => !existsSync(join(root, path)));
  if (missing.length > 0) fail(`not built (${missing.join(', ')} missing): run npm run build, or npm run package, which builds first`);
}

/**
 * npm pack of parako as it ships: bundleDependencies makes the tarball carry the whole production
 * tree, the workspace plugins included, so installing it asks no registry. The checkout's own
 * package.json cannot say so: with bundleDependencies at the root, `npm ci` re-resolves the
 * packages that npm itself bundles and fails. So the package is laid out in a staging dir with
 * the shipped package.json, and this checkout's node_modules behind a link.
 */
async function packNpm() {
  const staging = join(scratch, 'npm-package');
  await mkdir(staging);
  for (const path of [...pjson.files, 'README.md']) await cp(join(root, path), join(staging, path), {recursive: true});
  const {scripts, devDependencies, workspaces, ...shipped} = pjson;
  await writeFile(join(staging, 'package.json'), `${JSON.stringify({...shipped, bundleDependencies: true}, null, 2)}\n`);
  await stageNodeModules(join(staging, 'node_modules'));
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', out], {cwd: staging}));
  const notBundled = Object.keys(pjson.dependencies).filter((name) => !packed.bundled.includes(name));
  if (notBundled.length > 0) fail(`npm pack left out ${notBundled.join(', ')}: installing the tarball would ask a registry for them`);
  const tarball = join(out, packed.filename);
  await withoutYarn(tarball);
  say(`${packed.filename}: ${packed.entryCount} files, ${packed.bundled.length} bundled packages`);
  return tarball;
}

/**
 * This checkout's node_modules, hard-linked where it can be (same filesystem) and copied where
 * not; the workspace links of the first-party plugins become copies of what each would publish.
 * npm pack bundles only what `dependencies` reach, so the dev tools in it are left behind.
 */
async function stageNodeModules(into) {
  const linked = spawnSync('cp', ['-al', join(root, 'node_modules'), into]);
  if (linked.status !== 0) {
    await rm(into, {recursive: true, force: true});
    run('cp', ['-a', join(root, 'node_modules'), into]);
  }
  await rm(join(into, '.cache'), {recursive: true, force: true});
  for (const workspace of await readdir(join(root, 'plugins'))) {
    const plugin = JSON.parse(await readFile(join(root, 'plugins', workspace, 'package.json'), 'utf8'));
    const target = join(into, ...plugin.name.split('/'));
    await rm(target, {force: true});
    await mkdir(target, {recursive: true});
    for (const path of ['package.json', ...plugin.files]) await cp(join(root, 'plugins', workspace, path), join(target, path), {recursive: true});
  }
}

/**
 * @oclif/plugin-plugins depends on yarn 1 only to run `yarn install` in a linked plugin folder
 * that has a yarn.lock, and falls back to a yarn on PATH when it has none. yarn's preinstall
 * script is the only install script in the tree: it spawns npm during every global install of
 * parako (which then asks the registry for npm's latest version) and, on npm 8, may delete a
 * Corepack `yarn` link of the host. parako ships a stand-in: the same name and version, no
 * script, no code.
 */
async function withoutYarn(tarball) {
  const unpacked = join(scratch, 'npm-tarball');
  await mkdir(unpacked);
  run('tar', ['-xzf', tarball, '-C', unpacked]);
  const yarn = join(unpacked, 'package', 'node_modules', 'yarn');
  const {version: yarnVersion} = JSON.parse(await readFile(join(yarn, 'package.json'), 'utf8'));
  await rm(yarn, {recursive: true});
  await mkdir(yarn);
  await writeFile(
    join(yarn, 'package.json'),
    `${JSON.stringify({name: 'yarn', version: yarnVersion, description: 'stand-in: parako does not ship yarn (scripts/package.mjs, withoutYarn)', license: 'BSD-2-Clause'}, null, 2)}\n`,
  );
  run('tar', [...reproducibleTar(), '-czf', tarball, '-C', unpacked, 'package']);
  await rm(unpacked, {recursive: true});
}

async function packPlugins() {
  const packed = JSON.parse(run('npm', ['pack', '--workspaces', '--json', '--pack-destination', join(out, 'plugins')], {cwd: root}));
  for (const plugin of packed) say(`plugins/${plugin.filename}`);
}

/**
 * oclif's standalone layout: the package as npm would install it, plus `bin/node` and a
 * `bin/parako` that runs bin/run.js with that node, wherever the tree is put or linked from.
 */
async function standaloneTree(npmTarball) {
  const unpacked = join(scratch, 'standalone');
  await mkdir(unpacked);
  run('tar', ['-xzf', npmTarball, '-C', unpacked]);
  const tree = join(unpacked, 'parako');
  await rename(join(unpacked, 'package'), tree);
  const node = await nodeRuntime(join(root, 'node_modules', '.cache', 'parako-node'), say);
  await copyFile(node, join(tree, 'bin', 'node'));
  await chmod(join(tree, 'bin', 'node'), 0o755);
  await mkdir(join(tree, 'share', 'node'), {recursive: true});
  await copyFile(join(dirname(node), '..', 'LICENSE'), join(tree, 'share', 'node', 'LICENSE'));
  await writeFile(
    join(tree, 'bin', 'parako'),
    [
      '#!/bin/sh',
      `# parako ${version} with its own Node.js ${NODE_RUNTIME.version}: the host's node, if any, is not used.`,
      '# readlink -f: /usr/bin/parako and other links to this file find the tree they belong to.',
      'bin=$(dirname "$(readlink -f "$0")")',
      'exec "$bin/node" "$bin/run.js" "$@"',
      '',
    ].join('\n'),
    {mode: 0o755},
  );
  // npm pack stores 0644/0755; make sure nothing of the build machine's umask got in.
  run('chmod', ['-R', 'u+rwX,go+rX,go-w', tree]);
  return tree;
}

async function standaloneTarball(tree) {
  const name = `parako-v${version}-linux-x64.tar.gz`;
  run('tar', [...reproducibleTar(), '-czf', join(out, name), '-C', dirname(tree), basename(tree)]);
  say(`${name}: Node.js ${NODE_RUNTIME.version}`);
}

/**
 * The .deb: /usr/lib/parako holds the standalone tree, /usr/bin/parako links to its launcher,
 * /var/lib/parako is the plugin store (bin/run.js's default), root-only, and the templates an
 * operator copies from are under /usr/share/parako.
 */
async function debianPackage(tree) {
  const deb = join(scratch, 'deb');
  await mkdir(join(deb, 'usr', 'lib'), {recursive: true});
  await cp(tree, join(deb, 'usr', 'lib', 'parako'), {recursive: true, verbatimSymlinks: true});
  await mkdir(join(deb, 'usr', 'bin'));
  await symlink('../lib/parako/bin/parako', join(deb, 'usr', 'bin', 'parako'));
  await mkdir(join(deb, 'var', 'lib', 'parako'), {recursive: true});
  await chmod(join(deb, 'var', 'lib', 'parako'), 0o700);
  await mkdir(join(deb, 'usr', 'share'), {recursive: true});
  await cp(join(root, 'templates'), join(deb, 'usr', 'share', 'parako'), {recursive: true});
  await mkdir(join(deb, 'usr', 'share', 'doc', 'parako'), {recursive: true});
  await writeFile(join(deb, 'usr', 'share', 'doc', 'parako', 'copyright'), copyright());
  run('chmod', ['-R', 'u+rwX,go+rX,go-w', join(deb, 'usr')]);

  await mkdir(join(deb, 'DEBIAN'));
  const installedKiB = run('du', ['-sk', '--apparent-size', join(deb, 'usr'), join(deb, 'var')])
    .trim().split('\n').reduce((sum, line) => sum + Number(line.split(/\s+/)[0]), 0);
  await writeFile(
    join(deb, 'DEBIAN', 'control'),
    [
      'Package: parako',
      `Version: ${version}`,
      'Architecture: amd64',
      'Maintainer: parako maintainers <parako@localhost>',
      `Installed-Size: ${installedKiB}`,
      // The bundled official Node.js build needs glibc 2.28 and libstdc++ of GCC 5.2 (GLIBCXX_3.4.21).
      'Depends: libc6 (>= 2.28), libstdc++6 (>= 5.2), libgcc-s1 | libgcc1',
      'Section: admin',
      'Priority: optional',
      `Description: release updater for self-hosted server apps (with Node.js ${NODE_RUNTIME.version})`,
      ' parako downloads a signed release, verifies it with Sigstore, stages it next to the',
      ' running one, atomically re-aims the current symlink, restarts the service through its',
      ' supervisor, checks health, and rolls back on its own when the new release does not come up.',
      ' .',
      ' This package carries its own Node.js runtime under /usr/lib/parako; the host needs none.',
      '',
    ].join('\n'),
  );
  const name = `parako_${version}_amd64.deb`;
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', deb, join(out, name)], {env: {...process.env, SOURCE_DATE_EPOCH: epoch}});
  say(`${name}: ${installedKiB} KiB installed`);
}

function copyright() {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: parako',
    '',
    'Files: *',
    'License: Apache-2.0',
    ' See /usr/share/common-licenses/Apache-2.0.',
    '',
    'Files: usr/lib/parako/bin/node',
    'License: MIT and others',
    ' The Node.js runtime; its license is /usr/lib/parako/share/node/LICENSE.',
    '',
    'Files: usr/lib/parako/node_modules/*',
    'License: various',
    ' Each bundled package carries its own license file.',
    '',
  ].join('\n');
}

/** `sha256sum -c SHA256SUMS`-compatible, every artifact by its path under the output dir. */
async function writeChecksums() {
  const files = [];
  for (const entry of await readdir(out, {recursive: true, withFileTypes: true})) {
    if (entry.isFile()) files.push(relative(out, join(entry.parentPath, entry.name)));
  }
  files.sort();
  const lines = [];
  for (const file of files) lines.push(`${await sha256(join(out, file))}  ${file}`);
  await writeFile(join(out, 'SHA256SUMS'), `${lines.join('\n')}\n`);
  for (const file of files) say(`  ${file}  ${((await stat(join(out, file))).size / 1024 ** 2).toFixed(1)} MiB`);
  say(`SHA256SUMS: ${files.length} files in ${out}`);
}

function reproducibleTar() {
  return ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--format=gnu'];
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

function gitCommitTime() {
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], {cwd: root, encoding: 'utf8'});
  return git.status === 0 && git.stdout.trim() !== '' ? git.stdout.trim() : undefined;
}

function run(command, args, opts = {}) {
  const result = spawnSync(command, args, {encoding: 'utf8', maxBuffer: 64 * 1024 ** 2, ...opts});
  if (result.error?.code === 'ENOENT') fail(`${command} is not installed (${command === 'dpkg-deb' ? 'apt-get install dpkg' : command})`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr || result.stdout}`);
  return result.stdout;
}

function say(line) {
  console.log(`package: ${line}`);
}

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}
