import {describe, expect, it} from 'vitest';

import {validateSettings} from 'parako';

import provider from '../src/provides.js';

const settings = provider.settings!;
const install = {app: 'shop', dir: '/opt/shop'};

/** The problems parako reports for a section, as the operator reads them. */
const problems = async (section: unknown): Promise<string[]> => (await validateSettings(provider.settings!, section)).problems;

describe('the backup section', () => {
  it('is accepted over the socket, or with a URL', async () => {
    expect(await problems({type: 'postgres', database: 'shop', runAs: 'postgres'})).toEqual([]);
    expect(await problems({type: 'postgres', url: 'postgresql://app:pw@db/shop'})).toEqual([]);
  });

  it('is refused with the key at fault named: a runAs that is not a user, an empty database, an unknown key', async () => {
    expect(await problems({type: 'postgres', database: 'shop', runAs: 'postgres; rm -rf /'})).toEqual(['backup.runAs: must be a system user name']);
    expect(await problems({type: 'postgres', database: ''})).toEqual([expect.stringMatching(/^backup\.database: /)]);
    expect(await problems({type: 'postgres', database: 'shop', dbname: 'shop'})).toEqual([expect.stringMatching(/^backup: .*"dbname"/)]);
  });

  it('has a JSON Schema for editors that allows no other key', () => {
    expect(settings.jsonSchema).toMatchObject({type: 'object', required: ['type'], additionalProperties: false});
    expect(Object.keys(settings.jsonSchema!.properties as object)).toEqual(['type', 'database', 'url', 'runAs']);
  });
});

describe('what it backs up, as the plan and messages say it', () => {
  it('names the database and the user, or the URL with its password masked', () => {
    const describeBackup = provider.backup!.describe;
    expect(describeBackup({type: 'postgres', database: 'shop'}, install)).toBe('PostgreSQL database shop (as postgres)');
    expect(describeBackup({type: 'postgres', url: 'postgresql://app:s3cret@db:5432/shop', database: 'other'}, install)).toBe('PostgreSQL database other at postgresql://app:****@db:5432/shop');
    expect(describeBackup({type: 'postgres'}, install)).toBe('PostgreSQL (no database named)');
  });
});
