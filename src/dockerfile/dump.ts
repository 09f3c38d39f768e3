/**
 * dump(): the s-expression text of BuildKit's Node.Dump(), one `(...)` line per
 * instruction; the exact format of the conformance `result` files.
 */
import type { Ast, InstructionNode } from './types.js';
import { goLower, goQuote, goQuoteList } from './gotext.js';

/** One instruction without the surrounding parentheses, e.g. `copy ["--from=x"] "a" "b"`. */
export function dumpInstruction(node: InstructionNode): string {
  // Iterative over ONBUILD chains: build the innermost first.
  const chain: InstructionNode[] = [];
  for (let n: InstructionNode | undefined = node; n; n = n.child) chain.push(n);
  let inner = '';
  for (let k = chain.length - 1; k >= 0; k--) {
    const n = chain[k]!;
    // Node.Dump joins the parts with single spaces and trims the result; every part
    // starts and ends with a non-space character except an empty keyword, so leaving
    // that one out is the same trim (and keeps deep ONBUILD chains linear).
    // (String concatenation, not Array.join: join would flatten the nested text each time.)
    let s = goLower(n.keyword);
    const sep = (): string => (s === '' ? '' : ' ');
    if (n.flags.length > 0) s += sep() + goQuoteList(n.flags.map((f) => f.text));
    if (n.child) s += sep() + '(' + inner + ')';
    for (const a of n.args) s += sep() + goQuote(a.value);
    inner = s;
  }
  return inner;
}

/** The whole tree: `(<instruction>)\n` per instruction, as in the `result` files. */
export function dump(ast: Pick<Ast, 'instructions'>): string {
  let out = '';
  for (const n of ast.instructions) out += '(' + dumpInstruction(n) + ')\n';
  return out;
}
