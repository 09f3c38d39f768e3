/**
 * The `kiln parse --json` document (a CLI contract, documented in README.md):
 * `{"directives", "instructions": [I...], "warnings"}`.
 */
import type { Diagnostic, SourceRange } from '../diagnostics/types.js';
import type { Ast, InstructionNode } from './types.js';

export interface JsonHeredoc {
  name: string;
  body: string;
  expand: boolean;
  chomp: boolean;
}

export interface JsonInstruction {
  keyword: string;
  flags: string[];
  args: string[];
  json: boolean;
  heredocs: JsonHeredoc[];
  child?: JsonInstruction;
  range: SourceRange;
}

export interface JsonAst {
  directives: Record<string, string>;
  instructions: JsonInstruction[];
  warnings: Diagnostic[];
}

export function instructionToJson(node: InstructionNode): JsonInstruction {
  const chain: InstructionNode[] = [];
  for (let n: InstructionNode | undefined = node; n; n = n.child) chain.push(n);
  let inner: JsonInstruction | undefined;
  for (let k = chain.length - 1; k >= 0; k--) {
    const n = chain[k]!;
    const out: JsonInstruction = {
      keyword: n.keyword,
      flags: n.flags.map((f) => f.text),
      args: n.args.map((a) => a.value),
      json: n.json,
      heredocs: n.heredocs.map((h) => ({ name: h.name, body: h.body, expand: h.expand, chomp: h.chomp })),
      range: n.range,
    };
    if (inner) out.child = inner;
    inner = out;
  }
  return inner!;
}

export function astToJson(ast: Ast): JsonAst {
  const directives: Record<string, string> = {};
  for (const [k, v] of Object.entries(ast.directives)) if (v !== undefined) directives[k] = v;
  return { directives, instructions: ast.instructions.map(instructionToJson), warnings: ast.warnings };
}

/**
 * JSON text of the document. JSON.stringify recurses per nesting level, so a hostile
 * `ONBUILD ONBUILD ...` chain thousands deep would overflow the stack; deep chains are
 * written without indentation by an iterative writer instead.
 */
export function stringifyJsonAst(doc: JsonAst): string {
  const depth = (i: JsonInstruction): number => {
    let d = 0;
    for (let n: JsonInstruction | undefined = i; n; n = n.child) d++;
    return d;
  };
  if (doc.instructions.every((i) => depth(i) <= 32)) return JSON.stringify(doc, null, 2);
  const parts: string[] = ['{"directives":', JSON.stringify(doc.directives), ',"instructions":['];
  doc.instructions.forEach((inst, k) => {
    if (k > 0) parts.push(',');
    let levels = 0;
    for (let n: JsonInstruction | undefined = inst; n; n = n.child) {
      const { child, ...flat } = n;
      const text = JSON.stringify(flat);
      if (child) {
        parts.push(text.slice(0, -1), ',"child":');
        levels++;
      } else parts.push(text);
    }
    parts.push('}'.repeat(levels));
  });
  parts.push('],"warnings":', JSON.stringify(doc.warnings), '}');
  return parts.join('');
}
