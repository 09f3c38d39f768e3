# The exec (JSON array) form of RUN, CMD, ENTRYPOINT, SHELL, ADD, COPY, VOLUME and
# HEALTHCHECK CMD: a JSON array as Go's encoding/json accepts it. Elements that are not
# strings (numbers, literals, nested arrays, objects) are still valid JSON: the result
# marks them so the caller can raise upstream's "arrays must be comprised of strings
# only" error. Anything the grammar rejects is not JSON, and upstream then falls back
# to the shell form. The grammar is unambiguous: whitespace is one token and lists are
# left-recursive.

@preprocessor typescript

@{%
import moo from 'moo';

const lexer = moo.compile({
  ws: { match: /[ \t\n\r]+/, lineBreaks: true },
  string: /"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/,
  number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  literal: ['true', 'false', 'null'],
  lbrack: '[',
  rbrack: ']',
  lbrace: '{',
  rbrace: '}',
  comma: ',',
  colon: ':',
  junk: { match: /[^]/, lineBreaks: true },
});

/** One array element: a string token, or a marker for any other JSON value. */
export type Element = { kind: 'string'; token: moo.Token } | { kind: 'other'; token: moo.Token };
%}

@lexer lexer

main      -> _ array _                     {% (d) => d[1] %}

array     -> %lbrack _ %rbrack             {% () => [] %}
           | %lbrack _ elements _ %rbrack  {% (d) => d[2] %}

elements  -> value                         {% (d) => [d[0]] %}
           | elements _ %comma _ value     {% (d) => { d[0].push(d[4]); return d[0]; } %}

value     -> %string                       {% (d) => ({ kind: 'string', token: d[0] }) %}
           | %number                       {% (d) => ({ kind: 'other', token: d[0] }) %}
           | %literal                      {% (d) => ({ kind: 'other', token: d[0] }) %}
           | array                         {% (d) => ({ kind: 'other', token: null }) %}
           | object                        {% (d) => ({ kind: 'other', token: null }) %}

object    -> %lbrace _ %rbrace             {% () => null %}
           | %lbrace _ members _ %rbrace   {% () => null %}

members   -> member                        {% () => null %}
           | members _ %comma _ member     {% () => null %}

member    -> %string _ %colon _ value      {% () => null %}

_         -> null                          {% () => null %}
           | %ws                           {% () => null %}
