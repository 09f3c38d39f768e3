/**
 * Error constructors for instruction parsing. Wording follows BuildKit's `instructions`
 * package where it has one; codes are stable (tests assert codes and ranges, not text).
 */
import { DockerfileError } from '../diagnostics/errors.js';
import type { SourceRange } from '../diagnostics/types.js';

export const InstrCode = {
  UnknownInstruction: 'INSTR_UNKNOWN_INSTRUCTION',
  UnknownFlag: 'INSTR_UNKNOWN_FLAG',
  DuplicateFlag: 'INSTR_DUPLICATE_FLAG',
  FlagValue: 'INSTR_INVALID_FLAG_VALUE',
  MissingArgument: 'INSTR_MISSING_ARGUMENT',
  TooManyArguments: 'INSTR_TOO_MANY_ARGUMENTS',
  NoStage: 'INSTR_NO_STAGE',
  InvalidStageName: 'INSTR_INVALID_STAGE_NAME',
  OnbuildChain: 'INSTR_ONBUILD_CHAIN',
  OnbuildTrigger: 'INSTR_ONBUILD_TRIGGER',
  CopyDestNotDir: 'INSTR_COPY_DEST_NOT_DIRECTORY',
  Heredoc: 'INSTR_INVALID_HEREDOC',
  Mount: 'INSTR_INVALID_MOUNT',
  Chmod: 'INSTR_INVALID_CHMOD',
  Chown: 'INSTR_INVALID_CHOWN',
  Checksum: 'INSTR_INVALID_CHECKSUM',
  Duration: 'INSTR_INVALID_DURATION',
  Port: 'INSTR_INVALID_PORT',
  Signal: 'INSTR_INVALID_SIGNAL',
  NotJson: 'INSTR_NOT_JSON',
  EmptyName: 'INSTR_EMPTY_NAME',
  EmptyValue: 'INSTR_EMPTY_VALUE',
  Healthcheck: 'INSTR_INVALID_HEALTHCHECK',
  Network: 'INSTR_INVALID_NETWORK',
  Security: 'INSTR_INVALID_SECURITY',
  Device: 'INSTR_INVALID_DEVICE',
} as const;

export type InstrCode = (typeof InstrCode)[keyof typeof InstrCode];

export function instrError(code: InstrCode, message: string, range: SourceRange, hint?: string): DockerfileError {
  return new DockerfileError(code, message, hint === undefined ? { range } : { range, hint });
}

export const errAtLeastOneArgument = (cmd: string, range: SourceRange): DockerfileError =>
  instrError(InstrCode.MissingArgument, `${cmd} requires at least one argument`, range);

export const errExactlyOneArgument = (cmd: string, range: SourceRange, got: number): DockerfileError =>
  instrError(
    got === 0 ? InstrCode.MissingArgument : InstrCode.TooManyArguments,
    `${cmd} requires exactly one argument`,
    range,
  );

export const errNoDestination = (cmd: string, range: SourceRange): DockerfileError =>
  instrError(
    InstrCode.MissingArgument,
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
    range,
    `write ${cmd} <source>... <destination>`,
  );
