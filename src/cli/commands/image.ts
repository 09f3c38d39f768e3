import type { Command } from 'commander';
import { KilnError, UsageError } from '../../diagnostics/errors.js';
import { imageInspect, renderTemplate } from '../../image/inspect.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';
import { reportError } from '../main.js';
import { addHistoryOptions, historyAction, type HistoryOptions } from './history.js';
import { addListOptions, imageSize, listImages, type ImagesOptions } from './images.js';
import { rmiAction } from './rmi.js';
import { tagImage } from './tag.js';

export async function inspectAction(ctx: CliContext, names: string[], opts: { format?: string }): Promise<void> {
  const s = await openStores(ctx.root());
  const out = [];
  let failed = false;
  for (const n of names) {
    try {
      const img = await s.images.resolve(n);
      const records = (await s.images.list()).filter((r) => r.target.digest === img.target.digest);
      const lastTag = records.map((r) => r.updatedAt).sort().pop();
      out.push(imageInspect(img, await imageSize(s, img), lastTag));
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      reportError(err, ctx);
      failed = true;
    }
  }
  if (opts.format) {
    try {
      for (const o of out) ctx.stdout.write(`${renderTemplate(opts.format, o)}\n`);
    } catch (err) {
      throw new UsageError(`invalid --format: ${(err as Error).message}`);
    }
  } else {
    ctx.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
  }
  if (failed) ctx.exitCode = 1;
}

export function register(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('Manage images');
  image
    .command('inspect <image...>')
    .description('Display detailed information on one or more images (JSON)')
    .option('-f, --format <template>', 'format the output using a Go-style template, e.g. "{{json .Config.Env}}"')
    .action(async (names: string[], opts: { format?: string }) => inspectAction(ctx, names, opts));
  addListOptions(
    image
      .command('ls [repository]')
      .alias('list')
      .description('List images')
      .action(async (repo: string | undefined, opts: ImagesOptions & { trunc?: boolean }) =>
        listImages(ctx, repo, { ...opts, noTrunc: opts.trunc === false }),
      ),
  );
  image
    .command('rm <image...>')
    .alias('remove')
    .description('Remove one or more images')
    .option('-f, --force', 'force removal of the image')
    .action(async (names: string[], opts: { force?: boolean }) => rmiAction(ctx, names, opts));
  image
    .command('tag <source> <target>')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .action(async (source: string, target: string) => tagImage(ctx, source, target));
  image
    .command('prune')
    .description('Remove dangling images and the content only they used (-a: all images no container uses)')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }) => {
      const { pruneAction } = await import('./system.js');
      await pruneAction(ctx, { ...opts, imagesOnly: true });
    });
  addHistoryOptions(
    image
      .command('history <image>')
      .description('Show the history of an image')
      .action(async (name: string, opts: HistoryOptions & { trunc?: boolean }) =>
        historyAction(ctx, name, { ...opts, noTrunc: opts.trunc === false }),
      ),
  );
}
