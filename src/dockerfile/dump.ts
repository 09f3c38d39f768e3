/**
 * dump(): the s-expression text of BuildKit's Node.Dump(), one `(...)` line per
 * instruction; the exact format of the conformance `result` files.
 */
import type { Ast, InstructionNode } from './types.js';
import { goLower, goQuote, goQuoteList, goTrimSpace } from './gotext.js';

/** One instruction without the surrounding parentheses, e.g. `copy ["--from=x"] "a" "b"`. */
export function dumpInstruction(node: InstructionNode): string {
  // Iterative over ONBUILD chains: build the innermost first.
  const chain: InstructionNode[] = [];
  for (let n: InstructionNode | undefined = node; n; n = n.child) chain.push(n);
  let inner = '';
  for (let k = chain.length - 1; k >= 0; k--) {
    const n = chain[k]!;
    let s = goLower(n.keyword);
    if (n.flags.length > 0) s += ' ' + goQuoteList(n.flags.map((f) => f.text));
    if (n.child) s += ' (' + inner + ')';
    for (const a of n.args) s += ' ' + goQuote(a.value);
    inner = goTrimSpace(s);
  }
  return inner;
}

/** The whole tree: `(<instruction>)\n` per instruction, as in the `result` files. */
export function dump(ast: Pick<Ast, 'instructions'>): string {
  let out = '';
  for (const n of ast.instructions) out += '(' + dumpInstruction(n) + ')\n';
  return out;
}
