import {PassThrough} from 'node:stream';
import {describe, expect, it} from 'vitest';

import {formatBytes, Terminal} from '../../src/cli/terminal.js';

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
