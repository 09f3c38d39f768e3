# The instruction head of a Dockerfile line: the text after the keyword, split into
# `--flag` words and the rest, exactly as BuildKit's extractBuilderFlags does.
#
# Input: the text after the keyword and its separating whitespace, as a "binary string"
# (one char per UTF-8 byte, Latin-1 code points) because upstream scans flags byte by
# byte: a byte is a space when unicode.IsSpace(rune(byte)) (so 0x85 and 0xA0 count).
# The lexer has one variant per escape token (`\` or a backtick); pass it as
# `new Parser(grammar, { lexer })`.
#
# The grammar is unambiguous: whitespace is one token, a flag token swallows every
# non-space byte (quotes may hold spaces), `rest` swallows the remainder of the line,
# and after a lone `--` the lexer switches to a state where everything is `rest`.

@preprocessor typescript

@{%
import moo from 'moo';

const SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0';

function escapeRe(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
}

/** A moo lexer for the flag region, for one escape token. */
export function makeHeadLexer(escape: string): moo.Lexer {
  const e = escapeRe(escape);
  // inside a quote: any byte but the quote and the escape token; escape + any byte;
  // an escape token at the very end is dropped; an unterminated quote runs to the end.
  const sq = `'(?:[^'${e}]|${e}[^]|${e}$)*(?:'|$)`;
  const dq = `"(?:[^"${e}]|${e}[^]|${e}$)*(?:"|$)`;
  const plain = `[^${SPACE}'"${e}]|${e}[^]|${e}$`;
  return moo.states({
    flags: {
      ws: { match: new RegExp(`[${SPACE}]+`), lineBreaks: true },
      dashdash: { match: new RegExp(`--(?=[${SPACE}]|$)`), next: 'tail' },
      flag: new RegExp(`--(?:${sq}|${dq}|${plain})*`),
      rest: { match: /[^]+/, lineBreaks: true },
    },
    tail: {
      ws: { match: new RegExp(`[${SPACE}]+`), lineBreaks: true },
      rest: { match: /[^]+/, lineBreaks: true },
    },
  });
}

const lexer = makeHeadLexer('\\');
%}

@lexer lexer

head      -> %ws:? body                   {% (d) => d[1] %}

# Several flags are collected left-recursively (O(1) per flag); `end` is the first word
# that is not a flag (and everything after it), or a lone `--` and what follows it.
body      -> null                          {% () => ({ flags: [], terminator: null, rest: null }) %}
           | end                           {% (d) => ({ flags: [], ...d[0] }) %}
           | flags                         {% (d) => ({ flags: d[0], terminator: null, rest: null }) %}
           | flags %ws                     {% (d) => ({ flags: d[0], terminator: null, rest: null }) %}
           | flags %ws end                 {% (d) => ({ flags: d[0], ...d[2] }) %}

flags     -> %flag                         {% (d) => [d[0]] %}
           | flags %ws %flag               {% (d) => { d[0].push(d[2]); return d[0]; } %}

end       -> %rest                         {% (d) => ({ terminator: null, rest: d[0] }) %}
           | %dashdash tail                {% (d) => ({ terminator: d[0], rest: d[1] }) %}

tail      -> null                          {% () => null %}
           | %ws                           {% () => null %}
           | %ws %rest                     {% (d) => d[1] %}
