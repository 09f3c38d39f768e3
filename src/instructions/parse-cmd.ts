import { errAtLeastOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { CmdInstruction, EntrypointInstruction, ShellInstruction } from './types.js';

export function parseCmd(req: ParseRequest): CmdInstruction {
  parseFlags('CMD', req.node.flags, {});
  return { ...req.base('cmd'), cmd: req.node.args.map((a) => a.value), prependShell: !req.node.json };
}

export function parseEntrypoint(req: ParseRequest): EntrypointInstruction {
  parseFlags('ENTRYPOINT', req.node.flags, {});
  const cmd = req.node.args.map((a) => a.value);
  return { ...req.base('entrypoint'), cmd: cmd.length === 0 ? null : cmd, prependShell: !req.node.json };
}

export function parseShell(req: ParseRequest): ShellInstruction {
  const { node } = req;
  parseFlags('SHELL', node.flags, {});
  if (node.args.length === 0) throw errAtLeastOneArgument('SHELL', node.range);
  if (!node.json) {
    throw instrError(InstrCode.NotJson, 'SHELL requires the arguments to be in JSON form', node.args[0]!.range, `write SHELL ${JSON.stringify(node.original.split(/\s+/))}`);
  }
  return { ...req.base('shell'), shell: node.args.map((a) => a.value) };
}
