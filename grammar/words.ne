# Quote-aware words of ENV, LABEL and ARG (BuildKit's parseWords) and the ENV/LABEL
# forms built from them (parseNameVal): `KEY name value` (legacy: the first word has no
# `=`) or `KEY a=b c=d ...` (every word has a `=`).
#
# A word is a run of `chunk` text: plain characters, escape-token pairs, single-quoted
# text (the escape token is literal inside) and double-quoted text (escape pairs kept);
# quotes and escapes stay in the word, an unterminated quote runs to the end. An escape
# token at the very end of the text is dropped (`dangle`). Words are separated by
# unicode.IsSpace whitespace outside quotes.
#
# Start symbols: `words` (ARG) and `nameval` (ENV/LABEL). Both are unambiguous:
# whitespace is one token, lists are left-recursive, and a `dangle` can only directly
# follow a chunk (inside the word) or end the text after whitespace.

@preprocessor typescript

@{%
import moo from 'moo';

const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

function escapeRe(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
}

// End of input. Not `$`: moo compiles its rules with the `m` flag, where `$` also matches
// before \r, \n, U+2028 and U+2029 in the middle of the text.
const END = '(?![^])';

/** A moo lexer for words with one escape token (`\` or a backtick). */
export function makeWordsLexer(escape: string): moo.Lexer {
  const e = escapeRe(escape);
  const single = `'[^']*(?:'|${END})`;
  const double = `"(?:[^"${e}]|${e}[^])*(?:"|(?=${e}?${END}))`;
  const plain = `[^${SPACE}'"${e}]|${e}[^]`;
  return moo.compile({
    ws: { match: new RegExp(`[${SPACE}]+`), lineBreaks: true },
    dangle: new RegExp(`${e}${END}`),
    chunk: { match: new RegExp(`(?:${single}|${double}|${plain})+`), lineBreaks: true },
  });
}

interface Tok {
  type: string;
  text: string;
  offset: number;
}
/** One word with its [start, end) offsets in the text. */
export interface WordPiece {
  value: string;
  start: number;
  end: number;
}
/** A word from its chunk token and, when the text ends in a dropped escape token, that token. */
const word = (t: Tok, dangle?: Tok): WordPiece => ({
  value: t.text,
  start: t.offset,
  end: dangle ? dangle.offset + dangle.text.length : t.offset + t.text.length,
});

/**
 * Word lists are built as cons cells, not by pushing into one array: a word can complete
 * at two positions (with and without a final dangling escape), and both completions
 * extend the same list prefix, so a shared mutable array would collect the word twice.
 */
interface Cons {
  w: WordPiece;
  prev: Cons | null;
}
const toArray = (c: Cons | null): WordPiece[] => {
  const out: WordPiece[] = [];
  for (; c; c = c.prev) out.push(c.w);
  return out.reverse();
};

// Token classes for the ENV/LABEL forms. They are `var ...: any` because nearleyc emits
// `declare var pair: any;` for every %token the lexer does not define, and TypeScript
// only accepts the redeclaration with the identical type.
// eslint-disable-next-line no-var
var pair: any = { test: (t: Tok): boolean => t.type === 'chunk' && t.text.includes('=') };
// eslint-disable-next-line no-var
var plainWord: any = { test: (t: Tok): boolean => t.type === 'chunk' && !t.text.includes('=') };
// eslint-disable-next-line no-var
var anyToken: any = { test: (): boolean => true };

// moo's has() answers true for every name; nearleyc asks it to decide whether `%pair`
// is a token type or one of the matcher objects above, so answer for the real types only.
const REAL_TYPES = new Set(['ws', 'dangle', 'chunk']);
const lexer = Object.assign(makeWordsLexer('\\'), { has: (t: string): boolean => REAL_TYPES.has(t) });
%}

@lexer lexer

words     -> %ws:? %dangle:?                {% () => [] %}
           | %ws:? items trail              {% (d) => toArray(d[1]) %}

items     -> word                           {% (d) => ({ w: d[0], prev: null }) %}
           | items %ws word                 {% (d) => ({ w: d[2], prev: d[0] }) %}

word      -> %chunk                         {% (d) => word(d[0]) %}
           | %chunk %dangle                 {% (d) => word(d[0], d[1]) %}

trail     -> null
           | %ws
           | %ws %dangle

# ENV/LABEL: the form is decided by the first word; a later word without `=` in the
# name=value form makes the parse fail (the caller reports it).
nameval   -> %ws:? %dangle:?                {% () => ({ form: 'none', words: [] }) %}
           | %ws:? legacyWord legacyRest    {% (d) => ({ form: 'legacy', words: [d[1]] }) %}
           | %ws:? pairs trail              {% (d) => ({ form: 'pairs', words: toArray(d[1]) }) %}

legacyWord -> %plainWord                    {% (d) => word(d[0]) %}
           | %plainWord %dangle             {% (d) => word(d[0], d[1]) %}

pairs     -> pairWord                       {% (d) => ({ w: d[0], prev: null }) %}
           | pairs %ws pairWord             {% (d) => ({ w: d[2], prev: d[0] }) %}

pairWord  -> %pair                          {% (d) => word(d[0]) %}
           | %pair %dangle                  {% (d) => word(d[0], d[1]) %}

# after the first (legacy) word: nothing, or whitespace and then any tokens at all
legacyRest -> null
           | %ws anything

anything  -> null
           | anything %anyToken
