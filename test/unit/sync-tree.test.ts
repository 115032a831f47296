import {chmod, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Writable} from 'node:stream';

import pino from 'pino';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {InterruptedError} from '../../src/core/errors.js';
import {syncfsReportsErrors} from '../../src/core/fsync.js';
import {Layout} from '../../src/core/layout.js';
import type {Logger} from '../../src/core/logger.js';
import {parseManifest} from '../../src/core/release-manifest.js';
import {DEFAULT_LIMITS, stageRelease} from '../../src/core/stage.js';
import {writeTgz} from '../fixtures/tar-writer.js';

describe('which kernels syncfs can be trusted on', () => {
  it.each([
    ['6.18.44-fc-v1147', true],
    ['5.8.0', true],
    ['5.15.0-91-generic', true],
    ['5.7.19', false],
    ['4.19.0-25-amd64', false],
    ['3.10.0-1160.el7.x86_64', false],
    ['not a version', false],
  ])('%s: %s', (release, trusted) => {
    expect(syncfsReportsErrors(release)).toBe(trusted);
  });
});

describe('staging says how it made the release durable', () => {
  let root: string;
  let savedPath: string | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-sync-tree-'));
    savedPath = process.env.PATH;
  });
  afterEach(async () => {
    process.env.PATH = savedPath;
    await rm(root, {recursive: true, force: true});
  });

  /** A logger at debug level whose lines are collected, parsed. */
  function debugLog(): {log: Logger; lines: Array<Record<string, unknown>>} {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    return {log: pino({level: 'debug'}, sink), lines};
  }

  async function stageWith(log: Logger, signal?: AbortSignal) {
    const manifestText = JSON.stringify({app: 'app', version: '1.0.0'});
    const artifact = join(root, 'a.tgz');
    await writeTgz(artifact, [{path: 'release.json', content: manifestText}, {path: 'lib', type: 'dir'}, {path: 'lib/a.js', content: 'a'}]);
    const layout = new Layout(join(root, 'install'));
    return stageRelease({layout, artifact, app: 'app', version: '1.0.0', limits: DEFAULT_LIMITS, shown: parseManifest(manifestText, 'test'), log, signal});
  }

  it('with sync on PATH: one syncfs, logged at debug', async () => {
    const {log, lines} = debugLog();
    const staged = await stageWith(log);
    expect(staged.flush).toBe('syncfs');
    expect(lines.find((line) => line.flush !== undefined)).toMatchObject({level: 20, flush: 'syncfs'});
  });

  it('without sync on PATH: an fsync of every file, logged at debug with the reason', async () => {
    process.env.PATH = root; // holds no sync
    const {log, lines} = debugLog();
    const staged = await stageWith(log);
    expect(staged.flush).toBe('fsync-each');
    expect(lines.find((line) => line.flush !== undefined)).toMatchObject({level: 20, flush: 'fsync-each', why: 'no sync program on PATH'});
  });

  it('a signal during a slow sync -f stops staging at once and removes the staging dir', async () => {
    const bin = join(root, 'bin');
    await mkdir(bin);
    // A syncfs stuck behind a busy disk: exec keeps the pid, so the kill reaches the sleep.
    await writeFile(join(bin, 'sync'), '#!/bin/sh\nexec sleep 30\n');
    await chmod(join(bin, 'sync'), 0o755);
    process.env.PATH = `${bin}:/usr/bin:/bin`;
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 500);
    await expect(stageWith(debugLog().log, controller.signal)).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await readdir(join(root, 'install', 'releases'))).toEqual([]);
  });
});
