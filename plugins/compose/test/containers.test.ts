import {describe as suite, expect, it} from 'vitest';

import {type ContainerState, describe, judge} from '../src/containers.js';

const restartedAt = Date.parse('2026-01-01T10:00:05Z');

function container(state: Partial<ContainerState>): ContainerState {
  return {id: 'c1', name: 'app-web-1', status: 'running', startedAt: restartedAt, exitCode: 0, restartCount: 0, oneOff: false, ...state};
}

suite('whether a container is up after the restart', () => {
  it('running, started by the restart, no healthcheck: up', () => {
    expect(judge(container({}), restartedAt - 5000)).toEqual({up: true});
  });

  it('a healthcheck must say healthy; starting is waited for, unhealthy fails with what the probe said', () => {
    expect(judge(container({health: 'healthy'}))).toEqual({up: true});
    expect(judge(container({health: 'starting'}))).toEqual({up: false, failed: false, state: 'running (health: starting)'});
    expect(judge(container({health: 'unhealthy', healthOutput: 'wget: server returned error: HTTP/1.1 404 Not Found'}))).toEqual({
      up: false,
      failed: true,
      state: 'running (health: unhealthy, last probe said: wget: server returned error: HTTP/1.1 404 Not Found)',
    });
  });

  it('a process that died after the restart fails, whether Docker is restarting it or it stays exited', () => {
    expect(judge(container({status: 'restarting', exitCode: 1, restartCount: 2}))).toEqual({
      up: false,
      failed: true,
      state: "restarting (exit code 1, restarted 2 times by Docker since parako's restart)",
    });
    expect(judge(container({status: 'exited', exitCode: 137}))).toMatchObject({failed: true, state: 'exited (exit code 137)'});
    // Caught between two of Docker's restarts, it looks running, but it has been restarted.
    expect(judge(container({restartCount: 1}))).toMatchObject({up: false, failed: true});
  });

  it('a container not started since before the restart, or only created, is waited for', () => {
    expect(judge(container({}), restartedAt)).toMatchObject({up: false, failed: false, state: 'running, not restarted yet'});
    expect(judge(container({status: 'created', startedAt: 0}))).toMatchObject({up: false, failed: false});
  });

  it('describes a plain state plainly', () => {
    expect(describe(container({}))).toBe('running');
    expect(describe(container({status: 'removed'}))).toBe('removed');
  });
});
