import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { parseReference } from '../../image/reference.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';

export async function tagImage(ctx: CliContext, source: string, target: string): Promise<void> {
  const ref = parseReference(target);
  if (ref.digest) throw new UsageError(`refusing to create a tag with a digest reference: "${target}"`);
  const s = await openStores(ctx.root());
  await s.images.tag(source, ref.toString());
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('tag <source> <target>')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .action(async (source: string, target: string) => tagImage(ctx, source, target));
}
