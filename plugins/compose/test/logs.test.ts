/**
 * The log excerpt of a failed restart: only what the container logged since parako's restart
 * (`docker logs --since`), stdout and stderr in the order written, and a plain line when
 * there is nothing. test/integration/supervisor-compose.test.ts runs it against real Docker.
 */
import {type ExecResult, testContext} from 'parako';
import {describe, expect, it} from 'vitest';

import {type ContainerState, logsSince} from '../src/containers.js';

const container: ContainerState = {id: 'c0ffee', name: 'shop-web-1', status: 'restarting', startedAt: 0, exitCode: 1, restartCount: 2, oneOff: false};
const restartedAt = new Date('2026-12-03T03:00:12.345Z');

function contextAnswering(answer: ExecResult): {ctx: ReturnType<typeof testContext>['ctx']; calls: Array<{command: string; args: string[]}>} {
  const calls: Array<{command: string; args: string[]}> = [];
  const {ctx} = testContext('restart', {
    exec: async (command: string, args: string[]) => {
      calls.push({command, args});
      return answer;
    },
  });
  return {ctx, calls};
}

describe('the log excerpt of a container that did not come up', () => {
  it('asks docker for the lines since the restart only, at most N, and merges stdout and stderr by time', async () => {
    const {ctx, calls} = contextAnswering({
      code: 0,
      stdout: '2026-12-03T03:00:13.000000001Z demo-app v1.1.0 starting\n2026-12-03T03:00:14.500000000Z demo-app v1.1.0 starting\n',
      stderr: '2026-12-03T03:00:13.200000000Z demo-app v1.1.0: cannot start\n',
    });
    const excerpt = await logsSince(ctx, container, restartedAt, 20);
    expect(calls).toEqual([{command: 'docker', args: ['logs', '--timestamps', '--since', '2026-12-03T03:00:12.345Z', '--tail', '20', 'c0ffee']}]);
    expect(excerpt).toMatch(/^log lines since the restart at \d\d:\d\d:\d\d \(docker logs --since 2026-12-03T03:00:12\.345Z --tail 20 shop-web-1\):\n/);
    expect(excerpt.split('\n').slice(1)).toEqual(['  demo-app v1.1.0 starting', '  demo-app v1.1.0: cannot start', '  demo-app v1.1.0 starting']);
  });

  it('keeps the last N lines of the two streams together', async () => {
    const {ctx} = contextAnswering({code: 0, stdout: '2026-12-03T03:00:13Z out 1\n2026-12-03T03:00:14.5Z out 2\n', stderr: '2026-12-03T03:00:14Z err 1\n2026-12-03T03:00:14.25Z err 2\n'});
    expect((await logsSince(ctx, container, restartedAt, 3)).split('\n').slice(1)).toEqual(['  err 1', '  err 2', '  out 2']);
  });

  it('says plainly when the container logged nothing since the restart', async () => {
    const {ctx} = contextAnswering({code: 0, stdout: '', stderr: ''});
    expect(await logsSince(ctx, container, restartedAt, 20)).toMatch(/^no log lines since the restart at \d\d:\d\d:\d\d \(docker logs --since 2026-12-03T03:00:12\.345Z --tail 20 shop-web-1\)$/);
  });

  it('says why when docker cannot show the logs', async () => {
    const {ctx} = contextAnswering({code: 1, stdout: '', stderr: 'Error response from daemon: configured logging driver does not support reading\n'});
    expect(await logsSince(ctx, container, restartedAt, 20)).toBe(
      'no log lines: docker logs --since 2026-12-03T03:00:12.345Z --tail 20 shop-web-1 exited 1: Error response from daemon: configured logging driver does not support reading',
    );
  });
});
