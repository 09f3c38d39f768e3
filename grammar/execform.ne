# The exec (JSON array) form of RUN, CMD, ENTRYPOINT, SHELL, ADD, COPY, VOLUME and
# HEALTHCHECK CMD: a JSON array as Go's encoding/json accepts it. Elements that are not
# strings (numbers, literals, nested arrays, objects) are still valid JSON: the result
# marks them so the caller can raise upstream's "arrays must be comprised of strings
# only" error. Anything the grammar rejects is not JSON, and upstream then falls back
# to the shell form. The grammar is unambiguous: whitespace never forms a token of its
# own (it is folded into the punctuation) and lists are left-recursive.

@preprocessor typescript

@{%
import moo from 'moo';

// Whitespace is folded into the punctuation around it (`[ `, ` , `, ` ]`...), so the
// token stream is short and the grammar needs no whitespace symbols. Leading whitespace
// is removed by the caller; trailing whitespace belongs to the final `]`.
const W = '[ \\t\\n\\r]*';
const lexer = moo.compile({
  string: /"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/,
  number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  literal: ['true', 'false', 'null'],
  lbrack: { match: new RegExp(`\\[${W}`), lineBreaks: true },
  rbrack: { match: new RegExp(`${W}\\]${W}`), lineBreaks: true },
  lbrace: { match: new RegExp(`\\{${W}`), lineBreaks: true },
  rbrace: { match: new RegExp(`${W}\\}`), lineBreaks: true },
  comma: { match: new RegExp(`${W},${W}`), lineBreaks: true },
  colon: { match: new RegExp(`${W}:${W}`), lineBreaks: true },
  junk: { match: /[^]/, lineBreaks: true },
});

/**
 * One array element: a string token, or a marker for any other JSON value. `overflow` is
 * set when the value is or holds a number beyond float64 range: Go's json.Unmarshal fails
 * on those, so upstream treats such text as not JSON at all (shell form).
 */
export type Element = { kind: 'string' | 'other'; token: moo.Token | null; overflow: boolean };
const overflows = (t: moo.Token): boolean => !Number.isFinite(Number(t.text));
const anyOverflow = (xs: Array<Element | null>): boolean => xs.some((x) => x !== null && x.overflow);
%}

@lexer lexer

main      -> array                         {% (d) => d[0] %}

array     -> %lbrack %rbrack               {% () => [] %}
           | %lbrack elements %rbrack      {% (d) => d[1] %}

# (push is safe: every value completes at exactly one position, its last token)
elements  -> value                         {% (d) => [d[0]] %}
           | elements %comma value         {% (d) => { d[0].push(d[2]); return d[0]; } %}

value     -> %string                       {% (d) => ({ kind: 'string', token: d[0], overflow: false }) %}
           | %number                       {% (d) => ({ kind: 'other', token: d[0], overflow: overflows(d[0]) }) %}
           | %literal                      {% (d) => ({ kind: 'other', token: d[0], overflow: false }) %}
           | array                         {% (d) => ({ kind: 'other', token: null, overflow: anyOverflow(d[0]) }) %}
           | object                        {% (d) => ({ kind: 'other', token: null, overflow: anyOverflow(d[0]) }) %}

object    -> %lbrace %rbrace               {% () => [] %}
           | %lbrace members %rbrace       {% (d) => d[1] %}

members   -> member                        {% (d) => [d[0]] %}
           | members %comma member         {% (d) => { d[0].push(d[2]); return d[0]; } %}

member    -> %string %colon value          {% (d) => d[2] %}
