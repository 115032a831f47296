import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the backup section', () => {
  it('is accepted with a connection string', async () => {
    expect(await problems({type: 'mongo', uri: 'mongodb+srv://app:pw@cluster.example/shop'})).toEqual([]);
  });

  it('is refused with the key at fault named: no uri, an empty one, an unknown key', async () => {
    expect(await problems({type: 'mongo'})).toEqual([expect.stringMatching(/^backup\.uri: /)]);
    expect(await problems({type: 'mongo', uri: ''})).toEqual([expect.stringMatching(/^backup\.uri: /)]);
    expect(await problems({type: 'mongo', uri: 'mongodb://db/shop', url: 'mongodb://db/shop'})).toEqual([expect.stringMatching(/^backup: .*"url"/)]);
  });
});

describe('what it backs up, as the plan and messages say it', () => {
  it('is the connection string with its password masked', () => {
    expect(provider.backup!.describe({type: 'mongo', uri: 'mongodb://app:s3cret@db:27017/shop?authSource=admin'}, {app: 'shop', dir: '/opt/shop'})).toBe(
      'mongodb://app:****@db:27017/shop?authSource=admin',
    );
  });
});
