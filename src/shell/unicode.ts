/**
 * Character classes with Go's `unicode` package semantics. BuildKit's lexer and
 * patternmatcher decide word boundaries and names with `unicode.IsSpace`,
 * `unicode.IsLetter` and `unicode.IsDigit`; JavaScript's `\s` differs from
 * `unicode.IsSpace` (it includes U+FEFF and lacks U+0085), so we spell the set out.
 */

/** Go's unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Go's unicode.IsLetter (general category L). */
export function isGoLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return LETTER.test(String.fromCodePoint(cp));
}

/** Go's unicode.IsDigit (general category Nd). */
export function isGoDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(String.fromCodePoint(cp));
}

/** Go's strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end) {
    const cp = s.codePointAt(start)!;
    if (!isGoSpace(cp)) break;
    start += cp > 0xffff ? 2 : 1;
  }
  while (end > start) {
    // Every Go space is in the BMP, so looking at one code unit is enough.
    if (!isGoSpace(s.charCodeAt(end - 1))) break;
    end--;
  }
  return s.slice(start, end);
}
