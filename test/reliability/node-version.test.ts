/**
 * The reliability suite runs twice in `npm test`: on the Node that runs vitest, then on Node 24
 * (scripts/test-node24.mjs). This proves the parako those runs spawn is the Node they claim:
 * a second run that silently fell back to the system Node would otherwise pass unseen.
 */
import {describe, expect, it} from 'vitest';

import {runParako} from '../fixtures/cli.js';

describe('the Node this suite runs on', () => {
  it('is the Node the spawned CLI runs on, and the major the Node 24 run asks for', async () => {
    const result = await runParako(['--version']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`node-v${process.versions.node}`);
    const wanted = process.env.PARAKO_TEST_NODE_MAJOR;
    if (wanted !== undefined) expect(process.versions.node.split('.')[0]).toBe(wanted);
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
  });
});
