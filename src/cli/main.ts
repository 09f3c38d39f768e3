import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { KilnError, DiagnosticsError, UsageError, formatDiagnostic } from '../diagnostics/index.js';
import type { Diagnostic } from '../diagnostics/index.js';
import { commandModules } from './commands/index.js';
import { defaultRoot, type CliContext } from './context.js';

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The subcommand named in argv (after global options), to load only its module. */
function requestedCommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

export async function buildProgram(ctx: CliContext, argv: string[] = []): Promise<Command> {
  const program = new Command('kiln');
  program
    .description('Build images from Dockerfiles and run containers')
    .version(readVersion(), '-v, --version', 'print the version and exit')
    .addOption(new Option('--root <dir>', 'store root (default: $KILN_ROOT, /var/lib/kiln as root)'))
    .option('--debug', 'show stack traces and internal details on errors')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  const wanted = requestedCommand(argv);
  const known = wanted !== undefined && commandModules.some((m) => typeof m !== 'function' && m.names.includes(wanted));
  // `kiln --version` needs no command module; help and unknown commands need them all
  if (wanted === undefined && argv.some((a) => a === '-v' || a === '--version')) return program;
  for (const entry of commandModules) {
    if (typeof entry === 'function') {
      (await entry()).register(program, ctx);
    } else if (!known || entry.names.includes(wanted!)) {
      (await entry.load()).register(program, ctx);
    }
  }
  for (const sub of program.commands) applyDefaults(sub, ctx);
  return program;
}

function applyDefaults(cmd: Command, ctx: CliContext): void {
  cmd.exitOverride();
  cmd.configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  cmd.showHelpAfterError(`(run "kiln ${cmd.name()} --help" for usage)`);
  for (const sub of cmd.commands) applyDefaults(sub, ctx);
}

/** Print an error the way a user wants to read it; return the exit code. */
export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof UsageError) {
    ctx.stderr.write(`kiln: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    return 2;
  }
  if (err instanceof KilnError) {
    const diags: Diagnostic[] = err instanceof DiagnosticsError ? err.diagnostics : [err.toDiagnostic()];
    for (const d of diags) {
      const source = d.range ? ctx.sources.get(d.range.file) : undefined;
      ctx.stderr.write(`${formatDiagnostic(d, source === undefined ? {} : { source })}\n`);
    }
    if (diags.length > 1) ctx.stderr.write(`${diags.filter((d) => d.severity === 'error').length} errors\n`);
    if (ctx.debug() && err.stack) ctx.stderr.write(`${err.stack}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  ctx.stderr.write(`kiln: ${e?.message ?? String(err)}\n`);
  if (ctx.debug() && e?.stack) ctx.stderr.write(`${e.stack}\n`);
  return 1;
}

export async function main(argv: string[], io: Partial<Pick<CliContext, 'stdout' | 'stderr'>> = {}): Promise<number> {
  let program: Command | undefined;
  const ctx: CliContext = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    sources: new Map(),
    root: () => {
      const opt = program?.opts<{ root?: string }>().root;
      return opt ? opt : defaultRoot();
    },
    debug: () => Boolean(program?.opts<{ debug?: boolean }>().debug) || process.env.KILN_DEBUG === '1',
  };
  try {
    program = await buildProgram(ctx, argv);
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version displays are not errors
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    return reportError(err, ctx);
  }
}
