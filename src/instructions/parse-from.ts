import { InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { FromInstruction } from './types.js';

/** BuildKit's validStageName, applied to the lower-cased name. */
const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

export function parseFrom(req: ParseRequest): FromInstruction {
  const { node } = req;
  const flags = parseFlags('FROM', node.flags, { platform: 'string' });
  const args = node.args;
  let name: FromInstruction['name'];
  if (args.length === 3 && args[1]!.value.toLowerCase() === 'as') {
    const lower = args[2]!.value.toLowerCase();
    if (!VALID_STAGE_NAME.test(lower)) {
      throw instrError(
        InstrCode.InvalidStageName,
        `invalid name for build stage: "${args[2]!.value}", name can't start with a number or contain symbols`,
        args[2]!.range,
        'stage names start with a letter and contain only letters, digits, "-", "_" and "."',
      );
    }
    name = { value: lower, range: args[2]!.range };
  } else if (args.length !== 1) {
    const range = args.length === 0 ? node.range : args.length > 3 && args[1]!.value.toLowerCase() === 'as' ? args[3]!.range : args[1]!.range;
    throw instrError(
      args.length === 0 ? InstrCode.MissingArgument : InstrCode.TooManyArguments,
      'FROM requires either one or three arguments',
      range,
      'write FROM <image> [AS <name>]',
    );
  }
  const out: FromInstruction = { ...req.base('from'), image: { value: args[0]!.value, range: args[0]!.range } };
  if (name) out.name = name;
  const platform = flags.strings.get('platform');
  if (platform) out.platform = platform;
  return out;
}
