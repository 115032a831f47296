import {PassThrough} from 'node:stream';
import {describe, expect, it} from 'vitest';

import {formatBytes, Terminal} from '../../src/cli/terminal.js';
import {escapeControl, escapeJson, INLINE_DATA_MAX, inlineData} from '../../src/core/terminal-text.js';

function fakeStream(tty: boolean): NodeJS.WriteStream & {text: () => string} {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & {text: () => string};
  let text = '';
  (stream as unknown as PassThrough).on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  Object.assign(stream, {isTTY: tty, columns: 100, text: () => text});
  return stream;
}

describe('terminal output', () => {
  it('draws a progress bar on a TTY and clears it before the next line', () => {
    const stream = fakeStream(true);
    const terminal = new Terminal(false, stream);
    terminal.progress(512, 1024);
    terminal.say('downloaded');
    expect(stream.text()).toContain('50% 512 B / 1.0 KiB');
    expect(stream.text()).toContain('\r\x1b[K' + 'downloaded\n');
  });

  it('draws nothing of it when piped, and nothing at all under --json', () => {
    const piped = fakeStream(false);
    new Terminal(false, piped).progress(512, 1024);
    expect(piped.text()).toBe('');
    const json = fakeStream(true);
    const quiet = new Terminal(true, json);
    quiet.progress(512, 1024);
    quiet.say('hello');
    expect(json.text()).toBe('');
  });

  it('asks nobody when there is no terminal', async () => {
    await expect(new Terminal(false, fakeStream(false)).confirm('install it?')).resolves.toBeUndefined();
  });

  it('formats sizes for people', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(200 * 1024 ** 2)).toBe('200.0 MiB');
  });
});

describe('text from outside parako reaches the terminal escaped', () => {
  it('C0 controls, CR, DEL and C1 controls are written as \\xHH', () => {
    expect(escapeControl('\x1b[2J\x1b[Hcleared')).toBe('\\x1b[2J\\x1b[Hcleared');
    expect(escapeControl('safe\rupdated v1.0.1')).toBe('safe\\x0dupdated v1.0.1');
    expect(escapeControl('\x00\x07\x08\x0b\x0c\x1f')).toBe('\\x00\\x07\\x08\\x0b\\x0c\\x1f');
    expect(escapeControl('del\x7f')).toBe('del\\x7f');
    expect(escapeControl('\u009b2J \u0085 \u0080')).toBe('\\x9b2J \\x85 \\x80');
  });

  it('bidi overrides, isolates, zero-width and other invisible format characters are written as \\uHHHH', () => {
    expect(escapeControl('evil\u202egpj.exe')).toBe('evil\\u202egpj.exe');
    expect(escapeControl('\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069')).toBe('\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068\\u2069');
    expect(escapeControl('a\u200bb\u200fc\ufeffd\u2028e\u2029')).toBe('a\\u200bb\\u200fc\\ufeffd\\u2028e\\u2029');
    expect(escapeControl('tag\u{e0041}')).toBe('tag\\u{e0041}');
  });

  it('newlines, tabs and ordinary text, accents and emoji included, are kept as they are', () => {
    const text = 'v1.1.0 has breaking changes:\n  - the /v1/tokens endpoint\tis removed — café ✓ 🚀 日本';
    expect(escapeControl(text)).toBe(text);
  });

  it('data inside a one-line message cannot start a line, and is cut after 200 printed characters', () => {
    expect(inlineData('x\nupdated v1.0.0 -> v1.0.1\tok')).toBe('x\\x0aupdated v1.0.0 -> v1.0.1\\x09ok');
    const long = inlineData('\x1b[8m' + 'j'.repeat(10_000));
    expect(long).toBe('\\x1b[8m' + 'j'.repeat(INLINE_DATA_MAX - 7) + '…');
    expect(inlineData('\x1b'.repeat(100), 10)).toBe('\\x1b\\x1b…');
    expect(inlineData('short')).toBe('short');
  });

  it('--json output stays the same JSON value with DEL, C1 and format characters escaped', () => {
    const value = {message: 'a\x1b[2J\x7f\u009b\u202e\u{e0041}\n', plain: 'café'};
    const json = escapeJson(JSON.stringify(value));
    expect(json).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/);
    expect(json).toContain('\\u009b');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('Terminal.say escapes what it is given, while its own progress bar still clears the line', () => {
    const stream = fakeStream(true);
    const terminal = new Terminal(false, stream);
    terminal.progress(1, 2);
    terminal.say('[plugin] \x1b[2J\rupdated v1.0.0 -> v1.0.1\u009b8m');
    expect(stream.text()).toContain('\r\x1b[K[plugin] \\x1b[2J\\x0dupdated v1.0.0 -> v1.0.1\\x9b8m\n');
  });
});

describe('log lines on stderr', () => {
  it('carry a C1 control or a bidi override of a logged value escaped, as valid JSON', async () => {
    const {spawnSync} = await import('node:child_process');
    const {join} = await import('node:path');
    const {repoRoot} = await import('../fixtures/cli.js');
    const logger = join(repoRoot, 'dist', 'core', 'logger.js');
    const script = `import(${JSON.stringify(logger)}).then((m) => m.createLogger({level: 'info'}).warn({out: 'a\\u009b2Jb\\u202ec'}, 'plugin output'))`;
    const child = spawnSync(process.execPath, ['-e', script], {encoding: 'utf8'});
    expect(child.status).toBe(0);
    expect(child.stderr).not.toMatch(/[\u0080-\u009f\u202a-\u202e]/);
    expect(JSON.parse(child.stderr)).toMatchObject({out: 'a\u009b2Jb\u202ec', msg: 'plugin output'});
  });
});
