import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the backup section', () => {
  it('is accepted with the path of the database', async () => {
    expect(await problems({type: 'sqlite', path: 'runtime/data/app.db'})).toEqual([]);
  });

  it('is refused with the key at fault named: no path, an empty one, an unknown key', async () => {
    expect(await problems({type: 'sqlite'})).toEqual([expect.stringMatching(/^backup\.path: /)]);
    expect(await problems({type: 'sqlite', path: ''})).toEqual([expect.stringMatching(/^backup\.path: /)]);
    expect(await problems({type: 'sqlite', path: 'app.db', file: 'app.db'})).toEqual([expect.stringMatching(/^backup: .*"file"/)]);
  });
});

describe('what it backs up, as the plan and messages say it', () => {
  it('is the database file, a relative path taken from the install dir', () => {
    const describeBackup = provider.backup!.describe;
    expect(describeBackup({type: 'sqlite', path: 'runtime/data/app.db'}, {app: 'shop', dir: '/opt/shop'})).toBe('SQLite database /opt/shop/runtime/data/app.db');
    expect(describeBackup({type: 'sqlite', path: '/var/lib/shop/app.db'}, {app: 'shop', dir: '/opt/shop'})).toBe('SQLite database /var/lib/shop/app.db');
  });
});
