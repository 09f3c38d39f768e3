import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { readDockerignore } from '../../context/dockerignore.js';
import { UsageError } from '../../diagnostics/errors.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { parse } from '../../dockerfile/index.js';
import { convertAst, formatGraphDot, formatGraphText } from '../../graph/index.js';
import type { ConvertOptions, ConvertResult, NamedContext } from '../../graph/index.js';
import type { CliContext } from '../context.js';
import { readDockerfileArg, readStdin } from '../dockerfile-input.js';

export interface PlanCommandOptions {
  file?: string;
  target?: string;
  buildArg?: string[];
  buildContext?: string[];
  platform?: string;
  format?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `--build-arg K=V`, or `--build-arg K` to take K from the environment (docker's rule). */
export function parseBuildArgs(list: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    const key = eq === -1 ? a : a.slice(0, eq);
    if (key === '') throw new UsageError(`invalid --build-arg "${a}"`, 'write --build-arg NAME=VALUE');
    const value = eq !== -1 ? a.slice(eq + 1) : Object.hasOwn(env, key) ? env[key] : undefined;
    if (value !== undefined) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function parseBuildContexts(list: readonly string[]): Record<string, NamedContext> {
  const out: Record<string, NamedContext> = {};
  for (const c of list) {
    const eq = c.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --build-context "${c}"`, 'write --build-context NAME=DIR or NAME=docker-image://REF');
    const name = c.slice(0, eq);
    const value = c.slice(eq + 1);
    const named: NamedContext = value.startsWith('docker-image://') ? { type: 'image', ref: value.slice('docker-image://'.length) } : { type: 'local', path: path.resolve(value) };
    Object.defineProperty(out, name, { value: named, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `kiln plan`: convert a Dockerfile to its build graph and print it with the image config. */
export async function planAction(ctx: CliContext, contextArg: string | undefined, opts: PlanCommandOptions, stdin: () => Promise<Buffer> = readStdin): Promise<ConvertResult> {
  const format = opts.format ?? 'text';
  if (!['text', 'json', 'dot'].includes(format)) throw new UsageError(`unknown --format "${format}"`, 'use --format text, json or dot');
  const contextDir = contextArg ?? '.';
  const file = opts.file ?? path.join(contextDir, 'Dockerfile');
  const bytes = await readDockerfileArg(file, stdin);
  const name = file === '-' ? '<stdin>' : path.basename(file) === file ? file : path.relative(process.cwd(), file) || file;
  ctx.sources.set(name, bytes.toString('utf8'));
  const options: ConvertOptions = { buildArgs: parseBuildArgs(opts.buildArg ?? []) };
  if (opts.target) options.target = opts.target;
  if (opts.platform) options.platform = opts.platform;
  if (opts.buildContext?.length) options.contexts = parseBuildContexts(opts.buildContext);
  const isDir = await stat(contextDir).then((s) => s.isDirectory(), () => false);
  if (isDir) {
    options.contextPath = path.resolve(contextDir);
    const ignore = await readDockerignore(contextDir, file === '-' ? undefined : file);
    if (ignore.patterns.length) options.excludePatterns = ignore.patterns;
  }
  const ast = parse(bytes, { file: name });
  const result = await convertAst(ast, options);
  for (const w of result.warnings) ctx.stderr.write(`${formatDiagnostic(w, { source: ctx.sources.get(name) ?? '' })}\n`);
  if (format === 'json') {
    const { graph, config, stages, targetStage } = result;
    ctx.stdout.write(`${JSON.stringify({ graph, config, stages, targetStage }, null, 2)}\n`);
  } else if (format === 'dot') {
    ctx.stdout.write(`${formatGraphDot(result.graph)}\n`);
  } else {
    ctx.stdout.write(`${formatGraphText(result.graph)}\n\nimage config (target stage "${result.targetStage}"):\n${JSON.stringify(result.config, null, 2)}\n`);
  }
  return result;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description('Convert a Dockerfile to its build graph and print it with the final image config (nothing runs)')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'name of the Dockerfile ("-" reads stdin; default CONTEXT/Dockerfile)')
    .option('--target <stage>', 'plan up to this stage')
    .option('--build-arg <key=value>', 'set a build-time variable (repeatable)', collect, [])
    .option('--build-context <name=dir|docker-image://ref>', 'additional named build context (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'target platform (default: this machine)')
    .option('--format <format>', 'output format: text, json or dot', 'text')
    .addHelpText('after', '\nEach line of the text output is one vertex: its digest (12 hex digits), op, BuildKit-style name and inputs.\n')
    .action(async (contextArg: string, opts: PlanCommandOptions) => {
      await planAction(ctx, contextArg, opts);
    });
}
