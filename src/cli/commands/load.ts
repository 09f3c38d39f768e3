import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../diagnostics/errors.js';
import { loadArchive } from '../../image/archive/load.js';
import { parseReference } from '../../image/reference.js';
import { unpackNow } from '../../image/unpack.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';

export async function loadAction(ctx: CliContext, opts: { input?: string; quiet?: boolean }, stdin: Readable = process.stdin): Promise<void> {
  let input: Readable;
  if (!opts.input || opts.input === '-') {
    if ((stdin as { isTTY?: boolean }).isTTY) {
      throw new UsageError('requested load from stdin, but stdin is empty', 'use -i FILE or redirect an archive to stdin');
    }
    input = stdin;
  } else {
    try {
      await fs.access(opts.input);
    } catch {
      throw new NotFoundError(`open ${opts.input}: no such file or directory`, { code: 'IMAGE_LOAD_NOT_FOUND' });
    }
    input = createReadStream(opts.input, { highWaterMark: 1 << 20 });
  }
  const s = await openStores(ctx.root());
  const loaded = await loadArchive(s.images, input);
  await unpackNow(s.root, s.content, () => Promise.all(loaded.map((img) => s.images.loadTarget(img.descriptor))));
  if (opts.quiet) return;
  for (const img of loaded) {
    for (const r of img.replaced ?? []) {
      ctx.stdout.write(`The image ${parseReference(r.name).familiar()} already exists, renaming the old one with ID ${r.oldId} to empty string\n`);
    }
    if (img.names.length === 0) ctx.stdout.write(`Loaded image ID: ${img.id}\n`);
    for (const n of img.names) ctx.stdout.write(`Loaded image: ${parseReference(n).familiar()}\n`);
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('load')
    .description('Load images from a tar archive (docker save, skopeo docker-archive/oci-archive, kiln save) or STDIN')
    .option('-i, --input <file>', 'read from a tar archive file, instead of STDIN')
    .option('-q, --quiet', 'suppress the load output')
    .action(async (opts: { input?: string; quiet?: boolean }) => loadAction(ctx, opts));
}
