/**
 * Go string semantics the Dockerfile parser depends on: unicode.IsSpace, strings.TrimSpace,
 * strings.ToLower and strconv.Quote. Upstream's behaviour is defined in these terms, so
 * they are reproduced exactly rather than approximated with JavaScript's `\s` or
 * `toLowerCase` (which differ on U+0085, U+FEFF, U+0130 and final sigma).
 */

/** unicode.IsSpace: '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the Z category spaces. */
export const GO_SPACE_CLASS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export function isGoSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Number of leading unicode.IsSpace characters. */
export function leadingSpace(s: string): number {
  let i = 0;
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Index just after the last non-space character. */
export function trailingSpaceStart(s: string): number {
  let j = s.length;
  while (j > 0 && isGoSpace(s.charCodeAt(j - 1))) j--;
  return j;
}

/** strings.TrimSpace */
export function goTrimSpace(s: string): string {
  const i = leadingSpace(s);
  if (i === s.length) return '';
  const j = trailingSpaceStart(s);
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

/** strings.ToLower: simple (one-to-one) case mapping, no context rules. */
export function goLower(s: string): string {
  // Fast path: ASCII only.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    if (ch === '\u0130') out += 'i';
    else {
      const l = ch.toLowerCase();
      out += [...l].length === 1 ? l : ch;
    }
  }
  return out;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SIMPLE_PRINTABLE = /^[\x20-\x7e]*$/;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * strconv.Quote: a Go double-quoted string literal. Printable runes (categories L, M, N,
 * P, S and ASCII space) are written as they are; the rest is escaped with \a \b \f \n \r
 * \t \v, \xNN (below U+0020 and U+007F), \uNNNN or \UNNNNNNNN. Lone surrogates (which
 * cannot come from valid UTF-8) are written as U+FFFD, which is what Go would have seen.
 */
export function goQuote(s: string): string {
  if (SIMPLE_PRINTABLE.test(s)) {
    if (!s.includes('"') && !s.includes('\\')) return `"${s}"`;
  }
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (c) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += '\\\\'; continue;
      case 0x07: out += '\\a'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
      case 0x0b: out += '\\v'; continue;
    }
    if (c < 0x20 || c === 0x7f) out += '\\x' + hex(c, 2);
    else if (c === 0x20 || (c < 0x7f)) out += ch;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd';
    else if (PRINTABLE.test(ch)) out += ch;
    else if (c < 0x10000) out += '\\u' + hex(c, 4);
    else out += '\\U' + hex(c, 8);
  }
  return out + '"';
}

/** fmt's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return '[' + list.map(goQuote).join(' ') + ']';
}
