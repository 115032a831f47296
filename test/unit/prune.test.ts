/**
 * Which releases prune removes (src/core/prune.ts): the protected ones never, then the places
 * left go to the newest releases that never failed their health check, then to those that did.
 */
import {describe, expect, it} from 'vitest';

import type {HistoryEntry} from '../../src/core/history.js';
import type {RetainedRelease} from '../../src/core/layout.js';
import {planPrune, pruneRules} from '../../src/core/prune.js';

const retained = (...versions: string[]): RetainedRelease[] => versions.map((version) => ({version, path: `/opt/app/releases/v${version}`, modifiedAt: new Date(0)}));

function line(operation: HistoryEntry['operation'], from: string | null, to: string, outcome: HistoryEntry['outcome']): HistoryEntry {
  return {at: '2026-12-01T00:00:00.000Z', operation, from, to, outcome, code: 0, migrationRan: false, backup: null, durationMs: 1};
}

describe('planPrune with pruneRules', () => {
  it('removes a failed release before an older good one', () => {
    const history = [line('update', null, '1.0.0', 'installed'), line('update', '1.0.0', '1.1.0', 'updated'), line('update', '1.1.0', '1.2.0', 'updated'), line('update', '1.2.0', '1.9.0', 'auto-rolled-back')];
    const plan = planPrune(retained('1.9.0', '1.2.0', '1.1.0', '1.0.0'), pruneRules(history, 3, '1.2.0'));
    expect(plan.remove.map((r) => r.version)).toEqual(['1.9.0']);
  });

  it('never removes current, the rollback target or the last release that ran healthy, even past keep', () => {
    // 1.9.0 is current but crash-looping (exit 8); 1.2.0 last ran healthy; 1.1.0 is where rollback goes.
    const history = [line('update', null, '1.1.0', 'installed'), line('update', '1.1.0', '1.2.0', 'updated'), line('update', '1.2.0', '1.9.0', 'unhealthy')];
    const plan = planPrune(retained('1.9.0', '1.5.0', '1.2.0', '1.1.0'), pruneRules(history, 2, '1.9.0'));
    expect(plan.keep.sort()).toEqual(['1.2.0', '1.9.0']);
    expect(plan.remove.map((r) => r.version)).toEqual(['1.5.0', '1.1.0']);
    const withTarget = planPrune(retained('1.9.0', '1.5.0', '1.2.0', '1.1.0'), pruneRules([...history.slice(0, 2)], 2, '1.2.0'));
    expect(withTarget.keep.sort()).toEqual(['1.1.0', '1.2.0']);
  });

  it('keeps failed releases when there is room', () => {
    const history = [line('update', null, '1.0.0', 'installed'), line('update', '1.0.0', '1.9.0', 'auto-rolled-back')];
    expect(planPrune(retained('1.9.0', '1.0.0'), pruneRules(history, 3, '1.0.0')).remove).toEqual([]);
  });
});
