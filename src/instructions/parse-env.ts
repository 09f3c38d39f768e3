import { errAtLeastOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { EnvInstruction, KeyValue, LabelInstruction } from './types.js';

/** ENV/LABEL arguments come from the parser as (name, value, separator) triples. */
function parseKeyValues(req: ParseRequest): KeyValue[] {
  const { node, name } = req;
  parseFlags(name, node.flags, {});
  const args = node.args;
  if (args.length === 0) throw errAtLeastOneArgument(name, node.range);
  if (args.length % 3 !== 0) throw instrError(InstrCode.TooManyArguments, `Bad input to ${name}, too many arguments`, node.range);
  const out: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const k = args[i]!;
    const v = args[i + 1]!;
    if (k.value === '') throw instrError(InstrCode.EmptyName, `${name} names can not be blank`, k.range);
    const range = { file: k.range.file, start: k.range.start, end: v.range.end };
    out.push({ key: k.value, value: v.value, legacy: args[i + 2]!.value === '', range });
  }
  return out;
}

export function parseEnv(req: ParseRequest): EnvInstruction {
  return { ...req.base('env'), pairs: parseKeyValues(req) };
}

export function parseLabel(req: ParseRequest): LabelInstruction {
  return { ...req.base('label'), pairs: parseKeyValues(req) };
}
