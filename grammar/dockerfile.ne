# The instruction head of a Dockerfile line: the text after the keyword, split into
# `--flag` words and the rest, exactly as BuildKit's extractBuilderFlags does.
#
# Input: the text after the keyword and its separating whitespace, as a "binary string"
# (one char per UTF-8 byte, Latin-1 code points) because upstream scans flags byte by
# byte: a byte is a space when unicode.IsSpace(rune(byte)) (so 0x85 and 0xA0 count).
# The lexer has one variant per escape token (`\` or a backtick); pass it as
# `new Parser(grammar, { lexer })`.
#
# The grammar is unambiguous: a flag token swallows every non-space byte (quotes may
# hold spaces) and the whitespace after it, `rest` swallows the remainder of the line,
# and after a lone `--` the lexer switches to a state where everything is `rest`.

@preprocessor typescript

@{%
import moo from 'moo';

const SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0';

function escapeRe(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
}

// End of input. Not `$`: moo compiles its rules with the `m` flag, where `$` also matches
// before \r, \n, U+2028 and U+2029 in the middle of the text.
const END = '(?![^])';

/** A moo lexer for the flag region, for one escape token. */
export function makeHeadLexer(escape: string): moo.Lexer {
  const e = escapeRe(escape);
  // inside a quote: any byte but the quote and the escape token; escape + any byte;
  // an escape token at the very end is dropped; an unterminated quote runs to the end.
  const sq = `'(?:[^'${e}]|${e}[^]|${e}${END})*(?:'|${END})`;
  const dq = `"(?:[^"${e}]|${e}[^]|${e}${END})*(?:"|${END})`;
  const plain = `[^${SPACE}'"${e}]|${e}[^]|${e}${END}`;
  // Whitespace after a flag (or after a lone `--`) belongs to that token: fewer tokens
  // make the Earley parse cheaper, and the grammar needs no whitespace symbols.
  return moo.states({
    flags: {
      ws: { match: new RegExp(`[${SPACE}]+`), lineBreaks: true },
      dashdash: { match: new RegExp(`--(?:[${SPACE}]+|${END})`), lineBreaks: true, next: 'tail' },
      flag: { match: new RegExp(`--(?:${sq}|${dq}|${plain})*[${SPACE}]*`), lineBreaks: true },
      rest: { match: /[^]+/, lineBreaks: true },
    },
    tail: {
      rest: { match: /[^]+/, lineBreaks: true },
    },
  });
}

const lexer = makeHeadLexer('\\');
%}

@lexer lexer

head      -> %ws:? flags:? end:?          {% (d) => ({ flags: d[1] ?? [], terminator: d[2]?.terminator ?? null, rest: d[2]?.rest ?? null }) %}

# Several flags are collected left-recursively (O(1) per flag; pushing into one array is
# safe because a flag is a single token, so each list prefix is extended only once); `end` is the first word
# that is not a flag (and everything after it), or a lone `--` and what follows it.
flags     -> %flag                         {% (d) => [d[0]] %}
           | flags %flag                   {% (d) => { d[0].push(d[1]); return d[0]; } %}

end       -> %rest                         {% (d) => ({ terminator: null, rest: d[0] }) %}
           | %dashdash %rest:?             {% (d) => ({ terminator: d[0], rest: d[1] }) %}
