import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { KilnError, UsageError } from '../../diagnostics/errors.js';
import { resolveSaveItems, saveImages } from '../../image/archive/save.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';

export async function saveAction(ctx: CliContext, names: string[], opts: { output?: string }): Promise<void> {
  const s = await openStores(ctx.root());
  const items = await resolveSaveItems(s.images, names);
  if (!opts.output || opts.output === '-') {
    if ((ctx.stdout as { isTTY?: boolean }).isTTY) {
      throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    await saveImages(s.images, items, ctx.stdout);
    return;
  }
  // write next to the target and rename, so a failed save leaves no half archive behind
  const target = path.resolve(opts.output);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(tmp, 'wx', 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new KilnError('IMAGE_SAVE_OUTPUT', `cannot write ${opts.output}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
  }
  const out = fh.createWriteStream();
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', () => resolve());
    out.on('error', reject);
  });
  closed.catch(() => {});
  try {
    await saveImages(s.images, items, out as Writable);
    out.end();
    await closed;
    await fs.rename(tmp, target);
  } catch (err) {
    out.destroy();
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('save <image...>')
    .description('Save one or more images to a tar archive (docker-archive + OCI layout; streamed to STDOUT by default)')
    .option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .action(async (names: string[], opts: { output?: string }) => saveAction(ctx, names, opts));
}
