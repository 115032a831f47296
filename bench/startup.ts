/**
 * Measurement 4: what an operator waits for before parako does anything. `parako --version`
 * is Node + oclif; `parako status` on an empty dir adds loading a command and reading the dir.
 * Both against `node -e 0`, the floor for any Node program, interleaved round by round.
 */
import {mkdir} from 'node:fs/promises';
import {join} from 'node:path';

import {type BenchContext, parako} from './context.js';
import type {Run} from './process.js';
import {type ResultRow, mib, ratio, sample, timeCells} from './table.js';

export async function startup(ctx: BenchContext): Promise<ResultRow[]> {
  const emptyDir = join(ctx.workDir, 'empty-install');
  await mkdir(emptyDir, {recursive: true});
  const commands: Array<{label: string; run: () => Promise<Run>}> = [
    {label: '`node -e 0`', run: () => ctx.runner.run(process.execPath, ['-e', '0'])},
    {label: '`parako --version`', run: () => parako(ctx, ['--version'])},
    {label: '`parako status --dir <empty dir>`', run: () => parako(ctx, ['status', '--dir', emptyDir])},
  ];
  for (const command of commands) await command.run(); // untimed: warm the page cache and Node's compile cache
  const runs: Run[][] = commands.map(() => []);
  ctx.progress(`start-up: ${ctx.sizes.startupRuns} rounds`);
  for (let i = 0; i < ctx.sizes.startupRuns; i++) {
    for (const [j, command] of commands.entries()) runs[j]!.push(await command.run());
  }
  const times = runs.map((list) => sample(list.map((r) => r.wallMs)));
  const rss = runs.map((list) => sample(list.map((r) => r.peakRssMiB ?? Number.NaN)).median);
  const floor = times[0]!.median;
  return commands.map((command, j) => ({
    measurement: `4. start-up: ${command.label}`,
    metric: 'wall time',
    ...timeCells(times[j]!),
    compared: `${j === 0 ? 'the floor' : `${ratio(times[j]!.median / floor)} \`node -e 0\``}; peak RSS ${mib(rss[j]!)}`,
  }));
}
