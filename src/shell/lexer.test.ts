import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KilnError, hasCode } from '../diagnostics/errors.js';
import { Lex, processWord, processWords } from './index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof KilnError) return e.code;
    throw e;
  }
  return undefined;
}

describe('processWord', () => {
  const env = new Map([
    ['FOO', 'foo bar'],
    ['EMPTY', ''],
    ['PATHV', '/usr/local/bin:/usr/bin'],
  ]);

  it('expands every modifier form', () => {
    const t = (w: string) => processWord(w, env).result;
    expect(t('$FOO')).toBe('foo bar');
    expect(t('${FOO}x')).toBe('foo barx');
    expect(t('${NOPE:-d}|${EMPTY:-d}|${EMPTY-d}|${NOPE-d}')).toBe('d|d||d');
    expect(t('${FOO:+s}|${EMPTY:+s}|${EMPTY+s}|${NOPE+s}')).toBe('s||s|');
    expect(t('${PATHV#*/}')).toBe('usr/local/bin:/usr/bin');
    expect(t('${PATHV##*/}')).toBe('bin');
    expect(t('${PATHV%:*}')).toBe('/usr/local/bin');
    expect(t('${PATHV%%:*}')).toBe('/usr/local/bin');
    expect(t('${PATHV%%/*}')).toBe('');
    expect(t('${PATHV%/*}')).toBe('/usr/local/bin:/usr');
    expect(t('${PATHV/usr/opt}')).toBe('/opt/local/bin:/usr/bin');
    expect(t('${PATHV//usr/opt}')).toBe('/opt/local/bin:/opt/bin');
    expect(t('${PATHV//\\//_}')).toBe('_usr_local_bin:_usr_bin');
  });

  it('reports required-variable errors with upstream wording and a stable code', () => {
    expect(() => processWord('${NOPE?}', env)).toThrow(/NOPE: is not allowed to be unset/);
    expect(() => processWord('${EMPTY:?}', env)).toThrow(/EMPTY: is not allowed to be empty/);
    expect(() => processWord('${NOPE:?set $FOO please}', env)).toThrow(/NOPE: set foo bar please/);
    expect(codeOf(() => processWord('${NOPE?}', env))).toBe('SHELL_REQUIRED_VARIABLE');
  });

  it('gives distinct codes for each syntax error', () => {
    expect(codeOf(() => processWord('${}', env))).toBe('SHELL_BAD_SUBSTITUTION');
    expect(codeOf(() => processWord('${FOO', env))).toBe('SHELL_MISSING_BRACE');
    expect(codeOf(() => processWord('${FOO:-x', env))).toBe('SHELL_MISSING_BRACE');
    expect(codeOf(() => processWord('${FOO/x', env))).toBe('SHELL_MISSING_BRACE');
    expect(codeOf(() => processWord('${FOO=x}', env))).toBe('SHELL_UNSUPPORTED_MODIFIER');
    expect(codeOf(() => processWord('${FOO:#x}', env))).toBe('SHELL_UNSUPPORTED_MODIFIER');
    expect(codeOf(() => processWord('"abc', env))).toBe('SHELL_UNTERMINATED_QUOTE');
    expect(codeOf(() => processWord("'abc", env))).toBe('SHELL_UNTERMINATED_QUOTE');
    expect(codeOf(() => processWord('${FOO#\\x}', env))).toBe('SHELL_INVALID_PATTERN');
    expect(() => processWord('${}', env)).toThrow('failed to process "${}": syntax error: bad substitution');
  });

  it('attaches the caller range to errors', () => {
    const range = { file: 'Dockerfile', start: { line: 3, column: 5 }, end: { line: 3, column: 9 } };
    try {
      processWord('${', env, { range });
      expect.unreachable();
    } catch (e) {
      expect((e as KilnError).range).toEqual(range);
    }
  });

  it('honours the backtick escape character', () => {
    const lex = new Lex({ escapeToken: '`' });
    expect(lex.processWord('a`$FOO\\b', env).result).toBe('a$FOO\\b');
    expect(lex.processWord('"x`"y"', env).result).toBe('x"y');
    expect(processWord('a\\$FOO', env).result).toBe('a$FOO');
    expect(() => new Lex({ escapeToken: '!' }).processWord('x')).toThrow(KilnError);
  });

  it('supports BuildKit options: raw quotes, skip unset env, skip quotes', () => {
    expect(processWord(`a"b"'c'`, env, { rawQuotes: true }).result).toBe(`a"b"'c'`);
    expect(processWord('$NOPE ${NOPE} ${NOPE:-x} ${FOO}', env, { skipUnsetEnv: true }).result).toBe(
      '$NOPE ${NOPE} ${NOPE:-x} foo bar',
    );
    expect(processWord(`"$FOO" 'x'`, env, { skipProcessQuotes: true }).result).toBe(`"foo bar" 'x'`);
  });

  it('uses Go replace-all semantics for empty matches and $ in the replacement', () => {
    const e = { V: 'abc', EMPTYPAT: '' };
    expect(processWord('${V//$EMPTYPAT/-}', e).result).toBe('-a-b-c-');
    expect(processWord('${V//b/[\\$0]}', e).result).toBe('a[\\b]c');
    expect(processWord('${V/b/[\\$0]}', e).result).toBe('a[\\$0]c');
  });

  it('tracks matched and unmatched names including nested words', () => {
    const r = processWord('${A:-${B}}${C#$D}', { A: '', C: 'cc' });
    expect([...r.matched].sort()).toEqual(['A', 'C']);
    expect([...r.unmatched].sort()).toEqual(['B', 'D']);
  });

  it('skips a leading byte order mark like Go text/scanner', () => {
    expect(processWord('\ufeffab', env).result).toBe('ab');
  });

  it('is case-sensitive for names', () => {
    expect(processWord('$foo', env).result).toBe('');
  });
});

describe('processWords', () => {
  it('splits on unquoted whitespace, including whitespace from values', () => {
    expect(processWords('a${S}b "c d" e\\ f', { S: ' x  y ' })).toEqual(['a', 'x', 'y', 'b', 'c d', 'e f']);
    expect(processWords('  ', {})).toEqual([]);
  });
  it('keeps the word before a modifier expansion', () => {
    expect(processWords('hello${X:-abc}bye', {})).toEqual(['helloabcbye']);
  });
});

describe('hostile input', () => {
  it('rejects deep ${ nesting with a clear error instead of a RangeError', () => {
    const n = 100_000;
    const word = '${a:-'.repeat(n) + 'x' + '}'.repeat(n);
    const t0 = performance.now();
    expect(codeOf(() => processWord(word, {}))).toBe('SHELL_TOO_DEEP');
    expect(performance.now() - t0).toBeLessThan(2000);
    // within the limit it works
    expect(processWord('${a:-'.repeat(150) + 'x' + '}'.repeat(150), {}).result).toBe('x');
  });

  it('passes NUL bytes, lone surrogates and astral characters through unchanged', () => {
    expect(processWord('a\u0000b"\ud800"${X:-\udc00}', {}).result).toBe('a\u0000b\ud800\udc00');
    expect(processWord('${V#?}', { V: '😀x' }).result).toBe('x');
    expect(processWord('${V%?}', { V: 'x😀' }).result).toBe('x');
  });

  it('bounds pattern matching work', () => {
    const value = 'a'.repeat(200_000);
    const err = (() => {
      try {
        processWord('${V//' + '*a'.repeat(500) + 'b/x}', { V: value });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(hasCode(err, 'SHELL_PATTERN_TOO_COMPLEX')).toBe(true);
    // an ordinary large substitution still works
    expect(processWord('${V//a/b}', { V: value }).result).toBe('b'.repeat(200_000));
  });

  it('handles a long line in linear time', () => {
    const word = 'x$A"q"'.repeat(200_000);
    const r = processWord(word, { A: 'y' });
    expect(r.result).toBe("xyq".repeat(200_000));
  });

  const alphabet = fc.constantFrom(
    '$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', "'", '"', '*', 'a', 'B', '1', ' ', '\t', '`', '\u0000', '한',
  );
  const words = fc.array(alphabet, { maxLength: 60 }).map((a) => a.join(''));
  const env = fc.dictionary(fc.constantFrom('a', 'B', '1', '@'), fc.array(alphabet, { maxLength: 8 }).map((a) => a.join('')));

  it('terminates with a result or a KilnError for random words', () => {
    fc.assert(
      fc.property(words, env, fc.constantFrom('\\', '`'), fc.boolean(), (w, e, esc, skip) => {
        try {
          const r = processWord(w, e, { escapeToken: esc, skipUnsetEnv: skip });
          expect(typeof r.result).toBe('string');
          // splitting never invents characters
          expect(processWords(w, e, { escapeToken: esc, skipUnsetEnv: skip }).join('').length).toBeLessThanOrEqual(
            r.result.length,
          );
        } catch (err) {
          if (!(err instanceof KilnError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
