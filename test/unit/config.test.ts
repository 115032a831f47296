import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';

import {expandEnv, loadConfig, parseConfig} from '../../src/core/config.js';
import {ConfigError} from '../../src/core/errors.js';
import {editorSchema, sectionsOfPackage} from '../../src/hooks/editor-schema.js';
import {repoRoot} from '../fixtures/cli.js';

const base = {app: 'parako-id', source: {index: 'https://releases.example.com/parako-id/index.json'}, verify: {key: '/etc/parako/cosign.pub'}};

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('host config', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, {recursive: true, force: true});
  });

  it('templates/parako.json, the example the .deb ships under /usr/share/parako, is a valid config', async () => {
    const file = join(repoRoot, 'templates', 'parako.json');
    const config = parseConfig(JSON.parse(await readFile(file, 'utf8')), file);
    expect(config).toMatchObject({app: 'parako-id', supervisor: {type: 'systemd', units: ['parako-id']}});
  });

  it('accepts the documented example and fills defaults', () => {
    const config = parseConfig(
      {
        ...base,
        verify: {issuer: 'https://token.actions.githubusercontent.com', identityRegExp: '^https://github\\.com/parako-id/'},
        supervisor: {type: 'systemd', units: ['parako-id', 'parako-id-worker']},
        health: {url: 'http://localhost:9007/health'},
        backup: {type: 'postgres', database: 'parako', runAs: 'postgres'},
        migration: {runAs: 'parako'},
      },
      'parako.json',
    );
    expect(config.keepReleases).toBe(3);
    expect(config.health?.timeoutSeconds).toBe(60);
    expect(config.verify).toEqual({issuer: 'https://token.actions.githubusercontent.com', identity: undefined, identityRegExp: '^https://github\\.com/parako-id/', trustedRoot: undefined, requireTlog: undefined});
  });

  it('names an unknown key and the file', () => {
    const message = messageOf(() => parseConfig({...base, keepReelases: 3}, '/opt/x/parako.json'));
    expect(message).toContain('/opt/x/parako.json');
    expect(message).toContain('unknown key "keepReelases"');
  });

  it('names a nested bad key', () => {
    expect(messageOf(() => parseConfig({...base, source: {index: 'ftp://x'}}, 'f'))).toContain('source.index: must be an http:// or https:// URL');
    expect(messageOf(() => parseConfig({...base, supervisor: {apps: ['web']}}, 'f'))).toContain('supervisor.type');
    expect(messageOf(() => parseConfig({...base, keepReleases: 1}, 'f'))).toContain('keepReleases');
  });

  it('leaves a plugin\'s section to the plugin: only its type is the core\'s', () => {
    // The pm2 plugin refuses an empty apps list when the plugins are prepared (src/hooks/runner.ts).
    expect(parseConfig({...base, supervisor: {type: 'pm2', apps: []}}, 'f').supervisor).toEqual({type: 'pm2', apps: []});
    expect(parseConfig({...base, backup: {type: 'mysql', database: 'shop'}}, 'f').backup).toEqual({type: 'mysql', database: 'shop'});
  });

  it('refuses a config without a verification policy: there is no switch to skip it', () => {
    expect(messageOf(() => parseConfig({...base, verify: {}}, 'f'))).toContain('verification cannot be turned off');
    expect(messageOf(() => parseConfig({app: 'x', source: base.source}, 'f'))).toContain('verify');
  });

  it('refuses a keyless policy without an identity, and a key policy with one', () => {
    expect(messageOf(() => parseConfig({...base, verify: {issuer: 'https://issuer.example'}}, 'f'))).toContain('needs "identity" or "identityRegExp"');
    expect(messageOf(() => parseConfig({...base, verify: {key: '/k', identity: 'x'}}, 'f'))).toContain('go with "issuer"');
    expect(messageOf(() => parseConfig({...base, verify: {key: '/k', issuer: 'https://i.example', identity: 'x'}}, 'f'))).toContain('not both');
    expect(messageOf(() => parseConfig({...base, verify: {issuer: 'https://i.example', identityRegExp: '('}}, 'f'))).toContain('verify.identityRegExp');
  });

  it('refuses an identityRegExp with an alternative that is not anchored with ^ (in ^A|B, B matches anywhere)', () => {
    const keyless = (identityRegExp: string): unknown => ({...base, verify: {issuer: 'https://issuer.example', identityRegExp}});
    const alternation = messageOf(() => parseConfig(keyless('^https://github\\.com/acme/app/|mallory'), 'f'));
    expect(alternation).toContain('verify.identityRegExp: the alternative "mallory" is not anchored with ^');
    expect(alternation).toContain('^(?:https://github\\.com/acme/app/|mallory)');
    expect(messageOf(() => parseConfig(keyless('github\\.com/acme/app/'), 'f'))).toContain('verify.identityRegExp: is not anchored with ^');
    expect(messageOf(() => parseConfig(keyless('(^https://a/|https://b/)'), 'f'))).toContain('is not anchored with ^');
    expect(messageOf(() => parseConfig(keyless('^(|https://a/)'), 'f'))).toContain('matches an empty identity, so it accepts every signer');
    // Anchored in every alternative; a | escaped or inside a class or a group is no alternative.
    for (const anchored of ['^https://a/|^https://b/', '^(?:https://a/|https://b/)', '^https://a/[|]x', '^https://a/\\|x', '^.*/acme/app/']) {
      expect(parseConfig(keyless(anchored), 'f').verify).toMatchObject({identityRegExp: anchored});
    }
  });

  it('takes migration.env as NAME: value strings and names a bad one', () => {
    expect(parseConfig({...base, migration: {runAs: 'parako', env: {DATABASE_URL: 'postgres:///app', PGHOST: '/run/pg'}}}, 'f').migration).toEqual({
      runAs: 'parako',
      env: {DATABASE_URL: 'postgres:///app', PGHOST: '/run/pg'},
    });
    expect(messageOf(() => parseConfig({...base, migration: {env: {'NOT-A-NAME': 'x'}}}, 'f'))).toContain('migration.env.NOT-A-NAME: is not an environment variable name');
    expect(messageOf(() => parseConfig({...base, migration: {env: {PORT: 5432}}}, 'f'))).toContain('migration.env.PORT');
    expect(messageOf(() => parseConfig({...base, migration: {env: ['PGHOST']}}, 'f'))).toContain('migration.env');
  });

  it('expands ${ENV} in strings and names a missing variable with its key', () => {
    expect(expandEnv({backup: {uri: 'mongodb://u:${PASS}@h/db'}}, {PASS: 's3cret'}, 'f')).toEqual({backup: {uri: 'mongodb://u:s3cret@h/db'}});
    let message = '';
    try {
      expandEnv({backup: {uri: '${MONGO_URI}'}}, {}, '/opt/x/parako.json');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('backup.uri');
    expect(message).toContain('MONGO_URI');
  });

  it('loads from the install dir and says where a missing or broken file is', async () => {
    dir = await mkdtemp(join(tmpdir(), 'parako-config-'));
    await expect(loadConfig(dir)).rejects.toThrow(/no host config at .*parako\.json/);
    await writeFile(join(dir, 'parako.json'), '{ "app": ');
    await expect(loadConfig(dir)).rejects.toThrow(/is not valid JSON/);
    await writeFile(join(dir, 'parako.json'), JSON.stringify({...base, source: {index: '${FEED}'}}));
    await expect(loadConfig(dir, {FEED: 'http://127.0.0.1:1/index.json'})).resolves.toMatchObject({source: {index: 'http://127.0.0.1:1/index.json'}});
  });

  it('publishes an up-to-date JSON Schema in docs/ (npm run schema regenerates it)', async () => {
    const published = JSON.parse(await readFile(join(repoRoot, 'docs', 'parako.schema.json'), 'utf8')) as unknown;
    expect(published).toEqual(JSON.parse(JSON.stringify(editorSchema(await sectionsOfPackage(repoRoot)))));
  });
});
