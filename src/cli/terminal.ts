import {createInterface} from 'node:readline/promises';

import type {Reporter} from '../core/operation.js';
import {escapeControl} from '../core/terminal-text.js';

/**
 * The one way text reaches the operator's terminal: every control character escaped
 * (src/core/terminal-text.ts), since much of it comes from the feed, releases and plugins.
 */
export function writeText(stream: NodeJS.WritableStream, text: string): void {
  stream.write(escapeControl(text));
}

/**
 * The operator's terminal: plain lines on stdout, a progress bar only on a TTY, nothing at
 * all under --json (stdout then carries exactly one JSON object).
 */
export class Terminal implements Reporter {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly quiet: boolean, private readonly stream: NodeJS.WriteStream = process.stdout) {}

  say(line: string): void {
    if (this.quiet) return;
    this.clearBar();
    writeText(this.stream, line + '\n');
  }

  progress(received: number, total: number): void {
    if (this.quiet || !this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && received < total) return;
    this.lastDraw = now;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 40));
    const ratio = total > 0 ? Math.min(1, received / total) : 0;
    const filled = Math.round(ratio * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    this.stream.write(`\r[${bar}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(received)} / ${formatBytes(total)}`);
    this.drawn = true;
  }

  progressDone(): void {
    this.clearBar();
  }

  async confirm(question: string): Promise<boolean | undefined> {
    if (this.quiet || !process.stdin.isTTY || !this.stream.isTTY) return undefined;
    const rl = createInterface({input: process.stdin, output: this.stream});
    try {
      const answer = await rl.question(`${escapeControl(question)} [y/N] `);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  }

  private clearBar(): void {
    if (!this.drawn) return;
    this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
