/** Go `fmt` renderings that end up in image history (`CMD ["a" "b"]`, `VOLUME [/a /b]`). */
import type { HealthcheckSpec } from '../instructions/types.js';
import { formatGoDuration } from '../instructions/values.js';

/** strconv.Quote */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp === 7) out += '\\a';
    else if (cp === 8) out += '\\b';
    else if (cp === 12) out += '\\f';
    else if (cp === 11) out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (/[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(ch)) out += ch;
    else if (cp > 0xffff) out += `\\U${cp.toString(16).padStart(8, '0')}`;
    else out += `\\u${cp.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/** fmt.Sprintf("%q", []string) */
export function goQuoteSlice(a: readonly string[] | null | undefined): string {
  return `[${(a ?? []).map(goQuote).join(' ')}]`;
}

/** fmt.Sprintf("%v", []string) */
export function goSlice(a: readonly string[]): string {
  return `[${a.join(' ')}]`;
}

/** %q of a rune (Retries int printed with %q) */
function goQuoteRune(n: number): string {
  if (n === 0) return "'\\x00'";
  if (n < 0x20 || n === 0x7f) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  if (n === 0x27) return "'\\''";
  if (n === 0x5c) return "'\\\\'";
  return `'${String.fromCodePoint(n)}'`;
}

/** fmt.Sprintf("%q", &HealthcheckConfig{...}) as BuildKit writes it into history. */
export function goHealthcheck(h: HealthcheckSpec): string {
  const d = (ns: number) => goQuote(formatGoDuration(ns));
  // docker 20.10's HealthConfig has no StartInterval; it appears only when set
  const startInterval = h.startInterval ? ` ${d(h.startInterval)}` : '';
  return `&{${goQuoteSlice(h.test)} ${d(h.interval)} ${d(h.timeout)} ${d(h.startPeriod)}${startInterval} ${goQuoteRune(h.retries)}}`;
}
