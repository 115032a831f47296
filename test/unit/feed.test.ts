import {describe, expect, it} from 'vitest';

import {DownloadError, RefusedError, UsageError} from '../../src/core/errors.js';
import {type FeedIndex, parseIndex, resolveVersion} from '../../src/core/feed.js';

const sha = 'a'.repeat(64);
const url = 'https://releases.example.com/app/index.json';

function index(versions: string[]): FeedIndex {
  return parseIndex(
    JSON.stringify({
      schemaVersion: 1,
      app: 'app',
      releases: versions.map((version) => ({version, artifact: `v${version}/app.tar.gz`, bundle: `v${version}/app.tar.gz.sigstore.json`, sha256: sha, size: 10})),
    }),
    url,
    'app',
  );
}

const none = new Set<string>();

describe('release feed', () => {
  it('resolves artifact and bundle URLs against the index URL', () => {
    const feed = index(['1.4.0']);
    expect(feed.releases[0]!.artifactUrl).toBe('https://releases.example.com/app/v1.4.0/app.tar.gz');
    expect(feed.releases[0]!.bundleUrl).toBe('https://releases.example.com/app/v1.4.0/app.tar.gz.sigstore.json');
  });

  it('says an HTML page is not JSON', () => {
    expect(() => parseIndex('<!doctype html><html>', url, 'app')).toThrow(DownloadError);
    expect(() => parseIndex('<!doctype html><html>', url, 'app')).toThrow(/is not JSON \(it starts with "<!doctype html>/);
  });

  it('refuses a malformed index naming the field, another app, and duplicate versions', () => {
    expect(() => parseIndex(JSON.stringify({schemaVersion: 1, app: 'app', releases: [{version: 'x'}]}), url, 'app')).toThrow(/releases\.0\.version/);
    expect(() => parseIndex(JSON.stringify({schemaVersion: 1, app: 'other', releases: []}), url, 'app')).toThrow(/for app "other"/);
    const twice = {schemaVersion: 1, app: 'app', releases: [1, 2].map(() => ({version: '1.0.0', artifact: 'a', bundle: 'b', sha256: sha, size: 1}))};
    expect(() => parseIndex(JSON.stringify(twice), url, 'app')).toThrow(/twice/);
  });

  it('refuses an artifact URL that is not http(s)', () => {
    const feed = {schemaVersion: 1, app: 'app', releases: [{version: '1.0.0', artifact: 'file:///etc/passwd', bundle: 'b', sha256: sha, size: 1}]};
    expect(() => parseIndex(JSON.stringify(feed), url, 'app')).toThrow(/not http/);
  });

  it('takes 1.4.0, v1.4.0, a range and latest', () => {
    const feed = index(['1.3.2', '1.4.0', '2.0.0', '2.1.0-rc.1']);
    const pick = (spec: string) => resolveVersion(feed, {spec, allowDowngrade: false, bad: none}).release.version;
    expect(pick('1.4.0')).toBe('1.4.0');
    expect(pick('v1.4.0')).toBe('1.4.0');
    expect(pick('^1.3')).toBe('1.4.0');
    expect(pick('latest')).toBe('2.0.0');
    expect(pick('2.1.0-rc.1')).toBe('2.1.0-rc.1');
  });

  it('reports a version that is not in the feed, and a nonsense spec, as usage errors', () => {
    const feed = index(['1.0.0']);
    expect(() => resolveVersion(feed, {spec: '9.9.9', allowDowngrade: false, bad: none})).toThrow(UsageError);
    expect(() => resolveVersion(feed, {spec: 'banana', allowDowngrade: false, bad: none})).toThrow(UsageError);
  });

  it('refuses a downgrade unless allowed', () => {
    const feed = index(['1.0.0', '1.1.0']);
    expect(() => resolveVersion(feed, {spec: '1.0.0', current: '1.1.0', allowDowngrade: false, bad: none})).toThrow(RefusedError);
    expect(resolveVersion(feed, {spec: '1.0.0', current: '1.1.0', allowDowngrade: true, bad: none}).release.version).toBe('1.0.0');
  });

  it('skips a version that failed health for latest, but not when named', () => {
    const feed = index(['1.0.0', '1.1.0']);
    const bad = new Set(['1.1.0']);
    const latest = resolveVersion(feed, {spec: 'latest', current: '1.0.0', allowDowngrade: false, bad});
    expect(latest.release.version).toBe('1.0.0');
    expect(latest.skippedBad).toEqual(['1.1.0']);
    expect(resolveVersion(feed, {spec: '1.1.0', current: '1.0.0', allowDowngrade: false, bad}).release.version).toBe('1.1.0');
  });
});
