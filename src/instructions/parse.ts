/**
 * Ast -> typed instructions grouped into stages (BuildKit's instructions.Parse).
 * Every instruction is checked; all problems in the file are collected and reported together.
 */
import type { Diagnostic } from '../diagnostics/types.js';
import { DiagnosticsError, KilnError, withRange } from '../diagnostics/errors.js';
import type { Ast, InstructionNode } from '../dockerfile/types.js';
import { InstrCode, instrError } from './errors.js';
import { parseArg } from './parse-arg.js';
import { parseCmd, parseEntrypoint, parseShell } from './parse-cmd.js';
import { parseCopy } from './parse-copy.js';
import { parseEnv, parseLabel } from './parse-env.js';
import { parseFrom } from './parse-from.js';
import { parseHealthcheck } from './parse-healthcheck.js';
import { parseOnbuild } from './parse-onbuild.js';
import { parseRun } from './parse-run.js';
import {
  parseExpose, parseMaintainer, parseStopSignal, parseUser, parseVolume, parseWorkdir,
} from './parse-simple.js';
import { newParseRequest, type ParseRequest } from './request.js';
import { suggest } from './suggest.js';
import type { ArgInstruction, Command, Dockerfile, Instruction, Stage } from './types.js';

type Parser = (req: ParseRequest, warnings: Diagnostic[]) => Instruction;

const PARSERS: Record<string, Parser> = {
  add: parseCopy,
  arg: parseArg,
  cmd: parseCmd,
  copy: parseCopy,
  entrypoint: parseEntrypoint,
  env: parseEnv,
  expose: parseExpose,
  from: parseFrom,
  healthcheck: parseHealthcheck,
  label: parseLabel,
  maintainer: parseMaintainer,
  onbuild: (req, warnings) => parseOnbuild(req, (child) => parseInstruction(child, warnings), warnings),
  run: parseRun,
  shell: parseShell,
  stopsignal: parseStopSignal,
  user: parseUser,
  volume: parseVolume,
  workdir: parseWorkdir,
};

export const INSTRUCTION_NAMES = Object.keys(PARSERS).map((k) => k.toUpperCase());

/** One AST node -> one typed instruction; throws a located DockerfileError. */
export function parseInstruction(node: InstructionNode, warnings: Diagnostic[] = []): Instruction {
  const key = node.keyword.toLowerCase();
  const parser = Object.hasOwn(PARSERS, key) ? PARSERS[key] : undefined; // never `__proto__` or `constructor`
  if (!parser) {
    const close = suggest(node.keyword, INSTRUCTION_NAMES);
    const range = {
      file: node.range.file,
      start: node.range.start,
      end: { line: node.range.start.line, column: node.range.start.column + node.keyword.length },
    };
    throw instrError(
      InstrCode.UnknownInstruction,
      `unknown instruction "${node.keyword}"${close ? ` (did you mean "${close}"?)` : ''}`,
      range,
      close ? undefined : `valid instructions: ${INSTRUCTION_NAMES.join(', ')}`,
    );
  }
  try {
    return parser(newParseRequest(node), warnings);
  } catch (err) {
    throw withRange(err, node.range);
  }
}

/**
 * Group instructions into stages; ARGs before the first FROM are meta ARGs.
 * Throws the error, or a DiagnosticsError when the file has several.
 */
export function parseDockerfile(ast: Ast): Dockerfile {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [...ast.warnings];
  const stages: Stage[] = [];
  const metaArgs: ArgInstruction[] = [];
  let single: KilnError | undefined;
  for (const node of ast.instructions) {
    let inst: Instruction;
    try {
      inst = parseInstruction(node, warnings);
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      single ??= err;
      errors.push(err.toDiagnostic());
      continue;
    }
    if (inst.kind === 'from') {
      const stage: Stage = { index: stages.length, from: inst, commands: [], range: inst.range };
      if (inst.name) stage.name = inst.name.value;
      stages.push(stage);
      continue;
    }
    if (stages.length === 0) {
      if (inst.kind === 'arg') {
        metaArgs.push(inst);
        continue;
      }
      const err = instrError(InstrCode.NoStage, 'no build stage in current context', node.range, 'a Dockerfile starts with FROM (only ARG may come before it)');
      single ??= err;
      errors.push(err.toDiagnostic());
      continue;
    }
    stages[stages.length - 1]!.commands.push(inst as Command);
  }
  if (errors.length === 1 && single) throw single;
  if (errors.length > 1) throw new DiagnosticsError(errors);
  const seen = new Map<string, Stage>();
  for (const s of stages) {
    if (!s.name) continue;
    if (seen.has(s.name)) {
      warnings.push({
        severity: 'warning',
        code: 'INSTR_DUPLICATE_STAGE_NAME',
        message: `Duplicate stage name "${s.name}", stage names should be unique`,
        range: s.from.name!.range,
      });
    }
    if (s.name === 'scratch' || s.name === 'context') {
      warnings.push({
        severity: 'warning',
        code: 'INSTR_RESERVED_STAGE_NAME',
        message: `Stage name should not use the same name as reserved stage "${s.name}"`,
        range: s.from.name!.range,
      });
    }
    seen.set(s.name, s);
  }
  const escape = ast.directives.escape === '`' ? '`' : '\\';
  return { file: ast.file, escape, metaArgs, stages, warnings };
}
