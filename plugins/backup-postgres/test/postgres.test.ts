import {describe, expect, it} from 'vitest';

import {connectionOf, libpqEnvironment, restoreCommand, splitPassword} from '../src/postgres.js';

describe('backup.url', () => {
  it('loses its password (userinfo or ?password=) before it reaches a command line or a message', () => {
    expect(splitPassword('postgresql://app:p%40ss%3Aw@db.example:5432/shop?sslmode=require')).toEqual({url: 'postgresql://app@db.example:5432/shop?sslmode=require', password: 'p@ss:w'});
    expect(splitPassword('postgres://app@/shop?host=/run/pg&password=s3cret')).toEqual({url: 'postgres://app@/shop?host=%2Frun%2Fpg', password: 's3cret'});
    expect(splitPassword('postgresql:///shop?host=/run/pg')).toEqual({url: 'postgresql:///shop?host=%2Frun%2Fpg', password: undefined});
  });

  it('gets backup.database as ?dbname=, which libpq prefers over the path', () => {
    expect(splitPassword('postgresql://app@db/other', 'shop').url).toBe('postgresql://app@db/other?dbname=shop');
  });

  it('is refused when it is not a postgresql:// URL, without showing its password', () => {
    expect(() => connectionOf({type: 'postgres', url: 'mysql://app:s3cret@db/shop?password=x'})).toThrow(/postgresql:\/\/.*"mysql:\/\/app:\*\*\*\*@db\/shop\?password=\*\*\*\*"/);
  });
});

describe('the connection', () => {
  it('needs backup.database or backup.url: without either there is nothing to dump', () => {
    expect(() => connectionOf({type: 'postgres', runAs: 'postgres'})).toThrow('neither backup.database nor backup.url is set in parako.json');
  });
});

describe('the environment pg_dump gets', () => {
  it('is only the libpq PG* variables of parako\'s environment, by name', () => {
    const env = {PGHOST: '/run/pg', PGPORT: '5433', AWS_SECRET_ACCESS_KEY: 'x', PATH: '/bin', PGX_not: 'y'};
    expect(libpqEnvironment(env)).toEqual({PGHOST: '/run/pg', PGPORT: '5433'});
  });
});

describe('the restore command', () => {
  it('feeds the root-only file on stdin to pg_restore run as the socket user', () => {
    const connection = connectionOf({type: 'postgres', database: 'shop'});
    expect(restoreCommand(connection, '/opt/app/backups/app-pre-v1.2.0-x.dump')).toBe(
      'runuser -u postgres -- pg_restore --no-owner --clean --if-exists --single-transaction --dbname=shop < /opt/app/backups/app-pre-v1.2.0-x.dump',
    );
    const withUrl = connectionOf({type: 'postgres', url: "postgresql://app:pw@db/shop?application_name=it's"});
    expect(restoreCommand(withUrl, '/b/x.dump')).toBe(`pg_restore --no-owner --clean --if-exists --single-transaction --dbname='postgresql://app@db/shop?application_name=it%27s' < /b/x.dump`);
  });
});
