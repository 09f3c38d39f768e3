import type { Command } from 'commander';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { astToJson, dump, parse, stringifyJsonAst } from '../../dockerfile/index.js';
import type { CliContext } from '../context.js';
import { readDockerfileArg, readStdin } from '../dockerfile-input.js';

export interface ParseCommandOptions {
  file?: string;
  json?: boolean;
}

/** `kiln parse`: print the parse tree of a Dockerfile (upstream dump format, or JSON). */
export async function parseAction(ctx: CliContext, opts: ParseCommandOptions, stdin: () => Promise<Buffer> = readStdin): Promise<void> {
  const file = opts.file ?? 'Dockerfile';
  const bytes = await readDockerfileArg(file, stdin);
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
