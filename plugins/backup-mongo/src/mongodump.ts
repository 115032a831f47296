/**
 * The one tool this plugin drives: `mongodump --archive --gzip`, reading the connection
 * string from a 0600 YAML file (`--config`, mongodump 100.3.0+) rather than `--uri`, so the
 * password is neither in the process list (`ps`) nor in parako's exec log, which records argv.
 */
import {createReadStream} from 'node:fs';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGunzip} from 'node:zlib';

import {type HookContext, maskUrl, outputTail, redact, shellQuote} from 'parako';

/** Every mongodump archive starts with this uint32, little-endian (mongo-tools archive/prelude). */
const ARCHIVE_MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);

/** The password in a connection string (`mongodb://user:password@host`), to blank it out of what mongodump prints. */
function passwordOf(uri: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^@/?#]*)@/i.exec(uri)?.[1];
}

/** What the operator runs to put the database back (the password left out). */
export function restoreCommand(uri: string, archive: string): string {
  return `mongorestore --uri=${shellQuote(maskUrl(uri))} --archive=${shellQuote(archive)} --gzip --drop`;
}

/**
 * Runs mongodump with its stdout going into `archive` (opened by parako, mode 0600). stdout
 * rather than `--archive=<path>`: parako owns the file it opens, and mongodump logs to
 * stderr, so stdout carries only the archive.
 */
export async function dumpArchive(ctx: HookContext, uri: string, archive: string): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'parako-mongodump-'));
  const configFile = join(folder, 'mongodump.yaml');
  try {
    // A JSON string is a valid YAML double-quoted scalar, so any character in the URI is safe.
    await writeFile(configFile, `uri: ${JSON.stringify(uri)}\n`, {mode: 0o600, flag: 'wx'});
    let result;
    try {
      result = await ctx.exec('mongodump', [`--config=${configFile}`, '--archive', '--gzip'], {stdoutTo: archive});
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT'
          ? 'mongodump is not installed (not found on PATH); install the MongoDB Database Tools (100.3.0 or newer)'
          : `mongodump could not start: ${redact((error as Error).message, [passwordOf(uri)])}`,
      );
    }
    if (result.code !== 0) {
      const old = /unknown option.*config/i.test(result.stderr) ? '\n  (--config needs mongodump 100.3.0 or newer: upgrade the MongoDB Database Tools)' : '';
      throw new Error(`mongodump failed with exit code ${result.code}${result.signal ? ` (${result.signal})` : ''}${outputTail(result.stderr, [passwordOf(uri)], 5)}${old}`);
    }
  } finally {
    await rm(folder, {recursive: true, force: true});
  }
}

/**
 * The archive must be one complete gzip stream (a truncated one fails to inflate to its end)
 * holding a mongodump archive (its magic number first). Streamed: dumps can be large.
 */
export async function checkArchive(archive: string): Promise<string> {
  let inflated = 0;
  const head: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (inflated < ARCHIVE_MAGIC.length) head.push(chunk.subarray(0, ARCHIVE_MAGIC.length - inflated));
      inflated += chunk.length;
      done();
    },
  });
  try {
    await pipeline(createReadStream(archive), createGunzip(), sink);
  } catch (error) {
    throw new Error(`what mongodump wrote is not a complete gzip stream (${(error as Error).message}); the dump was cut short`);
  }
  if (inflated === 0) throw new Error('what mongodump wrote holds no data');
  if (!Buffer.concat(head).equals(ARCHIVE_MAGIC)) throw new Error('what mongodump wrote does not start like a mongodump archive (wrong magic number)');
  return 'a complete gzip stream of a mongodump archive';
}
