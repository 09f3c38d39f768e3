import type { Diagnostic } from '../diagnostics/types.js';
import { KilnError } from '../diagnostics/errors.js';
import { errAtLeastOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { Instruction, OnbuildInstruction } from './types.js';

/**
 * `ONBUILD <instruction>`. BuildKit rejects `ONBUILD ONBUILD`, `ONBUILD FROM` and
 * `ONBUILD MAINTAINER` here and checks the trigger only when a child stage runs it; kiln
 * parses the trigger now too and reports its problems as warnings (they become errors in the
 * stage that uses this one as a base).
 */
export function parseOnbuild(
  req: ParseRequest,
  parseTrigger: (req: ParseRequest['node']) => Instruction,
  warnings: Diagnostic[],
): OnbuildInstruction {
  const { node } = req;
  parseFlags('ONBUILD', node.flags, {});
  const child = node.child;
  if (!child) throw errAtLeastOneArgument('ONBUILD', node.range);
  const trigger = child.keyword.toUpperCase();
  const keywordRange = {
    file: child.range.file,
    start: child.range.start,
    end: { line: child.range.start.line, column: child.range.start.column + child.keyword.length },
  };
  if (trigger === 'ONBUILD') {
    throw instrError(InstrCode.OnbuildChain, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', keywordRange);
  }
  if (trigger === 'FROM' || trigger === 'MAINTAINER') {
    throw instrError(InstrCode.OnbuildTrigger, `${trigger} isn't allowed as an ONBUILD trigger`, keywordRange);
  }
  let expression = node.original;
  for (const h of node.heredocs.length ? node.heredocs : child.heredocs) expression += `\n${h.body}${h.name}`;
  const out: OnbuildInstruction = { ...req.base('onbuild'), expression };
  try {
    out.trigger = parseTrigger(child);
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    const d = err.toDiagnostic();
    warnings.push({ ...d, severity: 'warning', message: `ONBUILD trigger: ${d.message}` });
  }
  return out;
}
