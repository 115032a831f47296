/** POSIX shell single quoting, for a command the operator pastes (a restore command, say). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A URL as it may be shown: a password in it (`user:pass@`, `?password=`) replaced by `****`. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1****@').replaceAll(/([?&]password=)[^&#]*/gi, '$1****');
}

/**
 * `text` (a tool's error output) with secrets blanked out: every URL with credentials in it,
 * and each secret itself wherever it appears, raw or percent-decoded. A secret shorter than
 * four characters is left alone, since it would match inside ordinary words and garble the message.
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
  let safe = text.replaceAll(/([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:'"]*):[^\s@/'"]*@/gi, '$1:****@');
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 4) continue;
    for (const form of new Set([secret, safeDecode(secret)])) safe = safe.split(form).join('****');
  }
  return safe;
}

/** "1.2 MiB (1234567 bytes)" */
export function formatSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 'bytes';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return unit === 'bytes' ? `${bytes} bytes` : `${value.toFixed(1)} ${unit} (${bytes} bytes)`;
}

/** The last `lines` lines of a program's output, secrets removed, as the end of a message. */
export function outputTail(output: string, secrets: Array<string | undefined> = [], lines = 10): string {
  const tail = redact(output.trim(), secrets).split('\n').slice(-lines).join('\n  ');
  return tail === '' ? '' : `:\n  ${tail}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not valid percent-encoding: the raw form is all there is to hide
  }
}
