import { errAtLeastOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { ArgDefinition, ArgInstruction } from './types.js';

/** `ARG name[=default] ...`: each raw word splits at its first `=` (the value keeps its quotes). */
export function parseArg(req: ParseRequest): ArgInstruction {
  const { node } = req;
  parseFlags('ARG', node.flags, {});
  if (node.args.length === 0) throw errAtLeastOneArgument('ARG', node.range);
  const args: ArgDefinition[] = node.args.map((a) => {
    const eq = a.value.indexOf('=');
    if (eq === 0) throw instrError(InstrCode.EmptyName, 'ARG names can not be blank', a.range);
    const def: ArgDefinition = { key: eq === -1 ? a.value : a.value.slice(0, eq), range: a.range };
    if (eq !== -1) def.value = a.value.slice(eq + 1);
    return def;
  });
  return { ...req.base('arg'), args };
}
