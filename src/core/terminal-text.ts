/**
 * Text that reaches the operator's terminal. Much of what parako prints comes from outside it:
 * the unsigned feed, release.json, Sigstore bundles, plugins, migration output. A control
 * character in any of it would be obeyed by root's terminal (clear the screen, move the cursor,
 * hide the rest), so every printer escapes them here (src/cli/terminal.ts, print-result.ts).
 */

/**
 * C0 controls except tab and newline (so also CR, backspace and ESC), DEL, C1 controls (CSI is
 * U+009B), the Unicode format characters (bidi overrides and isolates, zero-width characters,
 * BOM, tag characters: `\p{Cf}`) and the line and paragraph separators.
 */
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\u2028\u2029]/gu;
/** The same characters plus tab and newline: data shown inside one line of a message. */
const UNSAFE_INLINE = /[\x00-\x1f\x7f-\x9f\p{Cf}\u2028\u2029]/gu;
/** What JSON.stringify leaves raw but a terminal may still obey (it escapes only below U+0020). */
const UNSAFE_IN_JSON = /[\x7f-\x9f\p{Cf}\u2028\u2029]/gu;

/** How far data embedded in a message is shown (an index's `app` may be megabytes). */
export const INLINE_DATA_MAX = 200;

/**
 * `text` with every character a terminal could obey written out the way JavaScript spells it:
 * ESC as `\x1b`, CR as `\x0d`, CSI as `\x9b`, RIGHT-TO-LEFT OVERRIDE as `\u202e`, a tag
 * character as `\u{e0041}`. Newlines and tabs stay: a message may span lines. Backslashes are
 * not doubled, so a literal `\x1b` in the data looks the same, but neither is obeyed.
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * Untrusted data quoted inside a one-line message: escaped as `escapeControl` does, newlines
 * and tabs too (so the data cannot start a line of its own), and cut after `max` printed
 * characters with `…`.
 */
export function inlineData(text: string, max = INLINE_DATA_MAX): string {
  let shown = '';
  for (const char of text) {
    const printed = char.replace(UNSAFE_INLINE, escapeChar);
    if (shown.length + printed.length > max) return `${shown}…`;
    shown += printed;
  }
  return shown;
}

/**
 * A JSON text (as JSON.stringify makes it) with DEL, the C1 controls and the format characters
 * written as `\uXXXX` escapes: still the same JSON value, and safe when `--json` is read on a
 * terminal. Outside strings a JSON text is plain ASCII, so only string contents change.
 */
export function escapeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (char) => {
    let escaped = '';
    // A character beyond U+FFFF (a tag character) is two UTF-16 units, each escaped.
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

function escapeChar(char: string): string {
  const code = char.codePointAt(0)!;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\u{${code.toString(16)}}`;
}
