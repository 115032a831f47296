/**
 * parako as a host gets it, for measurement 4: `npm run package` into the bench's temp dir,
 * the npm tarball installed with `npm install -g --prefix`, the standalone tarball unpacked.
 * Their start-up is measured next to the checkout's, so what packaging costs (or saves) shows.
 */
import {spawnSync} from 'node:child_process';
import {mkdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';

import {cleanEnv, repoRoot} from '../test/fixtures/cli.js';
import type {BenchContext} from './context.js';

export interface InstalledCopies {
  /** `<prefix>/bin/parako` of `npm install -g ./parako-<v>.tgz`, on this machine's Node. */
  npm: string;
  /** `parako/bin/parako` of the standalone tarball, on its own Node. */
  standalone: string;
  /** That Node, for its own `node -e 0` floor. */
  standaloneNode: string;
}

export async function installedCopies(ctx: BenchContext): Promise<InstalledCopies> {
  const artifacts = join(ctx.workDir, 'artifacts');
  ctx.progress('start-up: npm run package into the bench dir (about a minute)');
  run(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--out', artifacts]);
  const {version} = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {version: string};
  const prefix = join(ctx.workDir, 'npm-prefix');
  ctx.progress('start-up: npm install -g of the tarball');
  run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--no-update-notifier', join(artifacts, `parako-${version}.tgz`)]);
  const standalone = join(ctx.workDir, 'standalone');
  await mkdir(standalone);
  run('tar', ['-xzf', join(artifacts, `parako-v${version}-linux-x64.tar.gz`), '-C', standalone]);
  return {
    npm: join(prefix, 'bin', 'parako'),
    standalone: join(standalone, 'parako', 'bin', 'parako'),
    standaloneNode: join(standalone, 'parako', 'bin', 'node'),
  };
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, {cwd: repoRoot, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 ** 2});
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
}
