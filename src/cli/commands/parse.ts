import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { NotFoundError } from '../../diagnostics/errors.js';
import { astToJson, dump, parse, stringifyJsonAst } from '../../dockerfile/index.js';
import type { CliContext } from '../context.js';

export interface ParseCommandOptions {
  file?: string;
  json?: boolean;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** `kiln parse`: print the parse tree of a Dockerfile (upstream dump format, or JSON). */
export async function parseAction(ctx: CliContext, opts: ParseCommandOptions, stdin: () => Promise<Buffer> = readStdin): Promise<void> {
  const file = opts.file ?? 'Dockerfile';
  let bytes: Buffer;
  if (file === '-') {
    bytes = await stdin();
  } else {
    try {
      bytes = await readFile(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new NotFoundError(`cannot read Dockerfile "${file}": ${e.code === 'ENOENT' ? 'no such file' : e.message}`, {
        code: 'CLI_DOCKERFILE_NOT_FOUND',
        hint: 'use -f PATH to name the Dockerfile, or -f - to read it from stdin',
        cause: err,
      });
    }
  }
  const name = file === '-' ? '<stdin>' : file;
  const source = bytes.toString('utf8');
  ctx.sources.set(name, source);
  const ast = parse(bytes, { file: name });
  if (opts.json) {
    ctx.stdout.write(`${stringifyJsonAst(astToJson(ast))}\n`);
    return;
  }
  for (const w of ast.warnings) ctx.stderr.write(`${formatDiagnostic(w, { source })}\n`);
  ctx.stdout.write(dump(ast));
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('parse')
    .description('Parse a Dockerfile and print its parse tree')
    .option('-f, --file <path>', 'name of the Dockerfile ("-" reads stdin)', 'Dockerfile')
    .option('--json', 'print the parse tree as JSON (see README: kiln parse --json)')
    .addHelpText(
      'after',
      '\nThe default output is the s-expression dump of BuildKit\'s parser, one line per instruction:\n  (from "alpine")\n  (run ["--mount=type=cache,target=/c"] "make")\n',
    )
    .action(async (opts: ParseCommandOptions) => {
      await parseAction(ctx, opts);
    });
}
