import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { shortId } from '../../image/digest.js';
import { ellipsis, formatTable, humanSince, humanSize } from '../../image/format.js';
import { renderTemplate } from '../../image/inspect.js';
import { layerSizes } from '../../image/layer-size.js';
import { openStores } from '../../store/index.js';
import type { CliContext } from '../context.js';

export interface HistoryOptions {
  human?: boolean;
  quiet?: boolean;
  noTrunc?: boolean;
  format?: string;
}

export async function historyAction(ctx: CliContext, name: string, opts: HistoryOptions): Promise<void> {
  const s = await openStores(ctx.root());
  const img = await s.images.resolve(name);
  const sizes = await layerSizes(s.root, s.content, img.manifest.layers, img.config.rootfs.diff_ids);
  const entries = img.config.history?.length
    ? img.config.history
    : img.manifest.layers.map(() => ({ created: img.config.created, created_by: '', comment: '' }));
  let layer = 0;
  const rows = entries.map((h) => {
    const empty = 'empty_layer' in h && h.empty_layer === true;
    const size = empty ? 0 : (sizes[layer++] ?? 0);
    return { created: h.created, by: h.created_by ?? '', size, comment: h.comment ?? '' };
  });
  rows.reverse();
  const out = rows.map((r, i) => {
    const id = i === 0 ? (opts.noTrunc ? img.id : shortId(img.id)) : '<missing>';
    const createdBy = opts.noTrunc ? r.by : ellipsis(r.by.replace(/\t/g, ' '), 45);
    return {
      ID: id,
      CreatedSince: opts.human === false ? (r.created ?? '') : humanSince(r.created),
      CreatedAt: r.created ?? '',
      CreatedBy: createdBy,
      Size: opts.human === false ? String(r.size) : humanSize(r.size),
      Comment: r.comment,
    };
  });
  if (opts.quiet) {
    ctx.stdout.write(`${out.map((o) => o.ID).join('\n')}\n`);
    return;
  }
  const format = opts.format ?? 'table';
  if (format === 'json') {
    for (const o of out) ctx.stdout.write(`${JSON.stringify(o)}\n`);
  } else if (format === 'table') {
    ctx.stdout.write(formatTable(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], out.map((o) => [o.ID, o.CreatedSince, o.CreatedBy, o.Size, o.Comment])));
  } else if (format.includes('{{')) {
    try {
      for (const o of out) ctx.stdout.write(`${renderTemplate(format, o)}\n`);
    } catch (err) {
      throw new UsageError(`invalid --format: ${(err as Error).message}`);
    }
  } else {
    throw new UsageError(`invalid value "${format}" for "--format": expected table, json or a template`);
  }
}

export function addHistoryOptions(cmd: Command): Command {
  return cmd
    .option('-H, --human [bool]', 'print sizes and dates in human readable format', (v) => v !== 'false', true)
    .option('-q, --quiet', 'only show image IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', 'table, json, or a Go-style template', 'table');
}

export function register(program: Command, ctx: CliContext): void {
  addHistoryOptions(
    program
      .command('history <image>')
      .description('Show the history of an image')
      .action(async (name: string, opts: HistoryOptions & { trunc?: boolean }) => historyAction(ctx, name, { ...opts, noTrunc: opts.trunc === false })),
  );
}
