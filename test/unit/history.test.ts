import {describe, expect, it} from 'vitest';

import {badVersions, type HistoryEntry, lastInstallOf, previousRelease} from '../../src/core/history.js';
import {planPrune} from '../../src/core/prune.js';

function entry(operation: 'update' | 'rollback', from: string | null, to: string, outcome: HistoryEntry['outcome']): HistoryEntry {
  return {at: '2026-01-01T00:00:00Z', operation, from, to, outcome, code: 0, migrationRan: false, backup: null, durationMs: 1};
}

describe('history', () => {
  it('rolls back to the release that was current before this one was installed, and further back after that', () => {
    const history = [entry('update', null, '1.0.0', 'installed'), entry('update', '1.0.0', '1.1.0', 'updated'), entry('update', '1.1.0', '1.2.0', 'updated')];
    expect(previousRelease(history, '1.2.0')).toBe('1.1.0');
    history.push(entry('rollback', '1.2.0', '1.1.0', 'rolled-back'));
    expect(previousRelease(history, '1.1.0')).toBe('1.0.0');
    expect(previousRelease(history, '1.0.0')).toBeUndefined();
  });

  it('marks a version bad after a failed health check until it is installed healthy', () => {
    const history = [entry('update', '1.0.0', '1.1.0', 'auto-rolled-back')];
    expect(badVersions(history)).toEqual(new Set(['1.1.0']));
    history.push(entry('update', '1.0.0', '1.1.0', 'updated'));
    expect(badVersions(history)).toEqual(new Set());
  });

  it('counts an update killed after the swap, whose recovery left it current, as the install rollback goes back from', () => {
    const killed = {...entry('update', '1.0.0', '1.1.0', 'interrupted'), migrationRan: true, phase: 'restart', currentAfter: '1.1.0'};
    const history = [entry('update', null, '1.0.0', 'installed'), killed];
    expect(previousRelease(history, '1.1.0')).toBe('1.0.0');
    expect(lastInstallOf(history, '1.1.0')).toMatchObject({migrationRan: true});
    // Killed before the swap (or re-aimed back by recovery): it installed nothing.
    const undone = {...killed, phase: 'post-swap', currentAfter: '1.0.0'};
    expect(lastInstallOf([entry('update', null, '1.0.0', 'installed'), undone], '1.1.0')).toBeUndefined();
  });

  it('marks a version bad when an update to it stays unhealthy after a rollback was possible', () => {
    expect(badVersions([entry('update', '1.0.0', '1.1.0', 'unhealthy')])).toEqual(new Set(['1.1.0']));
  });

  it('does not mark bad a first install whose service did not come up: the next update must not skip the only release', () => {
    const history = [entry('update', null, '1.0.0', 'unhealthy')];
    expect(badVersions(history)).toEqual(new Set());
    // It is still the install rollback goes back from, and it has nothing before it.
    expect(lastInstallOf(history, '1.0.0')).toMatchObject({outcome: 'unhealthy'});
    expect(previousRelease(history, '1.0.0')).toBeUndefined();
  });

  it('marks a version bad when its run was killed during the automatic rollback', () => {
    const killed = {...entry('update', '1.0.0', '1.1.0', 'interrupted'), phase: 'rollback', currentAfter: '1.1.0'};
    expect(badVersions([killed])).toEqual(new Set(['1.1.0']));
    expect(badVersions([{...killed, phase: 'restart'}])).toEqual(new Set());
  });
});

describe('prune plan', () => {
  const retained = ['1.4.0', '1.3.0', '1.2.0', '1.1.0', '1.0.0'].map((version) => ({version, path: `/x/v${version}`, modifiedAt: new Date()}));

  it('keeps N, newest first', () => {
    expect(planPrune(retained, {keep: 3, protect: new Set(['1.4.0', '1.3.0']), bad: new Set()}).remove.map((r) => r.version)).toEqual(['1.1.0', '1.0.0']);
  });

  it('never removes current or the rollback target, even when they are old', () => {
    const plan = planPrune(retained, {keep: 2, protect: new Set(['1.0.0', '1.1.0']), bad: new Set()});
    expect(plan.keep.sort()).toEqual(['1.0.0', '1.1.0']);
    expect(plan.remove.map((r) => r.version)).toEqual(['1.4.0', '1.3.0', '1.2.0']);
  });
});
