import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNameVal, parseWordPieces, wordsParseCount } from './line-parsers.js';
import { isGoSpace } from './gotext.js';

/**
 * Test oracle: a direct, character-by-character port of the state machine of upstream's
 * parseWords (inSpaces / inWord / inQuote). The parser itself uses the moo + nearley
 * grammar in grammar/words.ne; both must agree on every input.
 */
interface Piece {
  value: string;
  start: number;
  end: number;
}
/**
 * parseWords: split on unquoted whitespace, keeping quotes and escape tokens in the
 * words (they are removed later, by the shell-word expander). An escape token at the
 * very end is dropped. Quotes may hold whitespace; an unterminated quote runs to the end.
 */
function oracleWords(rest: string, escape = '\\'): Piece[] {
  const esc = escape.codePointAt(0)!;
  const words: Piece[] = [];
  const IN_SPACES = 0;
  const IN_WORD = 1;
  const IN_QUOTE = 2;
  let phase = IN_SPACES;
  let word = '';
  let wordStart = 0;
  let quote = 0;
  let blankOK = false;
  let pos = 0;
  const n = rest.length;
  while (pos <= n) {
    if (pos === n) {
      if (phase !== IN_SPACES && (blankOK || word.length > 0)) words.push({ value: word, start: wordStart, end: n });
      break;
    }
    let ch = rest.codePointAt(pos)!;
    let w = ch > 0xffff ? 2 : 1;
    if (phase === IN_SPACES) {
      if (isGoSpace(ch)) {
        pos += w;
        continue;
      }
      phase = IN_WORD;
      wordStart = pos;
    }
    if (phase === IN_WORD) {
      if (isGoSpace(ch)) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push({ value: word, start: wordStart, end: pos });
        word = '';
        blankOK = false;
        pos += w;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === esc) {
        if (pos + w === n) {
          pos += w;
          continue;
        }
        word += String.fromCodePoint(ch);
        pos += w;
        ch = rest.codePointAt(pos)!;
        w = ch > 0xffff ? 2 : 1;
      }
      word += String.fromCodePoint(ch);
      pos += w;
      continue;
    }
    // IN_QUOTE
    if (ch === quote) phase = IN_WORD;
    if (ch === esc && quote !== 0x27) {
      if (pos + w === n) {
        phase = IN_WORD;
        pos += w;
        continue;
      }
      word += String.fromCodePoint(ch);
      pos += w;
      ch = rest.codePointAt(pos)!;
      w = ch > 0xffff ? 2 : 1;
    }
    word += String.fromCodePoint(ch);
    pos += w;
  }
  return words;
}

const alphabet = fc.constantFrom('a', 'b', '=', ' ', '\t', '\u00a0', '\u2028', '\r', '"', "'", '\\', '`', 'é', '😀', '$', '{', '}');
const text = fc.array(alphabet, { maxLength: 25 }).map((a) => a.join(''));

describe('words grammar (grammar/words.ne) agrees with upstream\'s parseWords state machine', () => {
  it.each(['\\', '`'])('escape token %s', (esc) => {
    fc.assert(
      fc.property(text, (s) => {
        expect(wordsParseCount('words', s, esc)).toBe(1);
        expect(parseWordPieces(s, esc)).toEqual(oracleWords(s, esc));
      }),
      { numRuns: 3000 },
    );
  });
  it('ENV/LABEL forms follow the first word', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(wordsParseCount('nameval', s)).toBeLessThanOrEqual(1);
        const words = oracleWords(s, '\\');
        let got: string[] | Error;
        try {
          got = parseNameVal(s, 'ENV').map((p) => p.value);
        } catch (e) {
          got = e as Error;
        }
        if (words.length === 0) expect(got).toEqual([]);
        else if (!words[0]!.value.includes('=')) {
          const m = /[\t\v\f\r ]+/.exec(s);
          if (m) expect(got).toEqual([s.slice(0, m.index), s.slice(m.index + m[0].length), '']);
          else expect((got as Error).message).toBe('ENV must have two arguments');
        } else {
          const bad = words.find((w) => !w.value.includes('='));
          if (bad) expect((got as Error).message).toContain('Syntax error - can\'t find = in');
          else expect(got).toEqual(words.flatMap((w) => [w.value.slice(0, w.value.indexOf('=')), w.value.slice(w.value.indexOf('=') + 1), '=']));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
