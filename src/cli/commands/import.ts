import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../diagnostics/errors.js';
import { importImage } from '../../image/import.js';
import { unpackNow } from '../../image/unpack.js';
import { parseReference } from '../../image/reference.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

export interface ImportCliOptions {
  change: string[];
  message?: string;
  platform?: string;
}

export async function importAction(ctx: CliContext, file: string, name: string | undefined, opts: ImportCliOptions, stdin: Readable = process.stdin): Promise<void> {
  const names = name ? [parseReference(name).toString()] : [];
  if (name && parseReference(name).digest) throw new UsageError(`import: a name with a digest cannot be given: "${name}"`);
  let platform: { architecture: string; os: string; variant?: string } | undefined;
  if (opts.platform) {
    const [os, architecture, variant] = opts.platform.split('/');
    if (!os || !architecture) throw new UsageError(`invalid --platform "${opts.platform}": expected os/arch[/variant]`);
    platform = variant ? { os, architecture, variant } : { os, architecture };
  }
  let input: Readable;
  if (file === '-') {
    input = stdin;
  } else {
    if (/^https?:\/\//.test(file)) throw new UsageError('import from a URL is not supported; download the file first');
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw new UsageError(`import: ${file} is not a regular file`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`import: ${file}: no such file`, { code: 'IMAGE_IMPORT_NOT_FOUND' });
      throw err;
    }
    input = createReadStream(file, { highWaterMark: 1 << 20 });
  }
  const s = await openStores(ctx.root());
  const { id } = await importImage(s.images, input, {
    changes: opts.change,
    ...(opts.message !== undefined ? { message: opts.message } : {}),
    source: file === '-' ? '-' : path.basename(file),
    names,
    root: s.root,
    ...(platform ? { platform } : {}),
  });
  await unpackNow(s.root, s.content, async () => [await s.images.resolve(id)]);
  ctx.stdout.write(`${id}\n`);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('import <file> [repository]')
    .description('Import the contents from a tarball (tar or tar.gz, "-" for stdin) to create a filesystem image')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the created image (repeatable)', collect, [])
    .option('-m, --message <message>', 'set the commit message for the imported image')
    .option('--platform <os/arch>', 'set the platform of the image (default: this machine)')
    .action(async (file: string, repo: string | undefined, opts: ImportCliOptions) => importAction(ctx, file, repo, opts));
}
