/**
 * ONBUILD triggers. A stage whose base is another stage runs that stage's ONBUILD
 * instructions right after its FROM; a stage whose base is an image runs the image config's
 * `OnBuild` strings (known only when the builder supplies an imageResolver).
 */
import { KilnError } from '../diagnostics/errors.js';
import { parse } from '../dockerfile/parse.js';
import { parseInstruction } from '../instructions/parse.js';
import type { Command } from '../instructions/types.js';
import { type ConvertContext, type DispatchState, GraphCode, graphError } from './internal.js';

export function triggerCommands(ctx: ConvertContext, d: DispatchState): Command[] {
  const out: Command[] = [];
  if (d.base) {
    for (const c of d.base.stage?.commands ?? []) {
      if (c.kind !== 'onbuild') continue;
      if (!c.trigger) {
        // the trigger did not parse; the warning from instruction parsing has the details
        const w = ctx.warnings.find((x) => x.range && x.range.start.line >= c.range.start.line && x.range.start.line <= c.range.end.line);
        throw graphError(GraphCode.Onbuild, `invalid ONBUILD trigger in stage "${d.base.stageName || d.base.baseName}": ${w?.message ?? c.expression}`, w?.range ?? c.range);
      }
      if (c.trigger.kind === 'from' || c.trigger.kind === 'onbuild' || c.trigger.kind === 'maintainer') continue;
      out.push({ ...c.trigger, onbuild: true } as Command);
    }
    return out;
  }
  for (const expr of d.resolvedConfig?.config?.OnBuild ?? []) {
    try {
      const ast = parse(expr, { file: `${d.baseName} ONBUILD` });
      if (ast.instructions.length !== 1) throw new Error('onbuild trigger should be a single expression');
      const inst = parseInstruction(ast.instructions[0]!);
      if (inst.kind === 'from' || inst.kind === 'onbuild' || inst.kind === 'maintainer') {
        throw new Error(`${inst.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      }
      // errors and vertices point at this stage's FROM line, as BuildKit does
      out.push({ ...inst, range: d.range, onbuild: true } as Command);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw graphError(GraphCode.Onbuild, `failed to process ONBUILD trigger of ${d.baseName} (${JSON.stringify(expr)}): ${msg}`, d.range, err instanceof KilnError ? err.hint : undefined);
    }
  }
  return out;
}
