import {lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {basename, dirname, join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {backupPath, prepareBackupFile} from '../../src/core/backup-file.js';

describe('prepareBackupFile', () => {
  let root: string;
  const at = new Date('2026-11-27T01:52:46.123Z');
  const name = () => ({dir: root, app: 'demo-app', version: '1.4.0', ext: 'db', at});

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'parako-backup-file-'));
  });
  afterEach(async () => {
    await rm(root, {recursive: true, force: true});
  });

  it('never writes through a link planted at <name>.partial', async () => {
    const victim = join(root, 'victim');
    await writeFile(victim, 'precious\n', {mode: 0o600});
    const path = backupPath(name());
    await mkdir(dirname(path), {mode: 0o700});
    await symlink(victim, `${path}.partial`);

    const target = await prepareBackupFile(name());
    await writeFile(target.tempPath, 'the dump');
    expect(await target.commit()).toBe(8);

    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await lstat(path)).isFile()).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('the dump');
  });

  it('gives the tool a 0600 file in a 0700 folder of its own, and commit leaves only the backup', async () => {
    const target = await prepareBackupFile(name());
    expect(target.path).toBe(join(root, 'backups', 'demo-app-pre-v1.4.0-2026-11-27T015246Z.db'));
    expect(dirname(dirname(target.tempPath))).toBe(dirname(target.path));
    expect((await stat(target.tempPath)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(target.tempPath))).mode & 0o777).toBe(0o700);
    expect(basename(dirname(target.tempPath))).toMatch(/^demo-app-pre-v1\.4\.0-2026-11-27T015246Z\.db\.partial-/);

    await writeFile(target.tempPath, 'the dump');
    await writeFile(`${target.tempPath}-journal`, 'what sqlite3 may leave');
    await target.commit();
    expect(await readdir(join(root, 'backups'))).toEqual([basename(target.path)]);
    expect((await stat(target.path)).mode & 0o777).toBe(0o600);
  });

  it('discard leaves nothing behind, and an empty backup is refused', async () => {
    const target = await prepareBackupFile(name());
    await expect(target.commit()).rejects.toThrow(/is empty/);
    await target.discard();
    expect(await readdir(join(root, 'backups'))).toEqual([]);
  });
});
