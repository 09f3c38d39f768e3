import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { formatTable, humanSize } from '../../image/format.js';
import { parseReference } from '../../image/reference.js';
import { openStores } from '../../store/index.js';
import { checkStore, diskUsage, prune, pruneBuildCache } from '../../store/system.js';
import type { CliContext } from '../context.js';

function pct(part: number, whole: number): string {
  return whole === 0 ? '' : ` (${Math.round((part / whole) * 100)}%)`;
}

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.stdout.write(question);
  if (!process.stdin.readable) return false;
  const rl = createInterface({ input: process.stdin });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export async function dfAction(ctx: CliContext, opts: { format?: string }): Promise<void> {
  const rows = await diskUsage(await openStores(ctx.root()));
  const format = opts.format ?? 'table';
  if (format === 'json') {
    for (const r of rows) {
      ctx.stdout.write(
        `${JSON.stringify({ Type: r.type, TotalCount: String(r.total), Active: String(r.active), Size: humanSize(r.size), Reclaimable: `${humanSize(r.reclaimable)}${pct(r.reclaimable, r.size)}` })}\n`,
      );
    }
    return;
  }
  if (format !== 'table') throw new UsageError(`invalid value "${format}" for "--format": expected table or json`);
  ctx.stdout.write(
    formatTable(
      ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
      rows.map((r) => [r.type, String(r.total), String(r.active), humanSize(r.size), `${humanSize(r.reclaimable)}${pct(r.reclaimable, r.size)}`]),
    ),
  );
}

export async function pruneAction(ctx: CliContext, opts: { all?: boolean; force?: boolean; imagesOnly?: boolean }): Promise<void> {
  if (!opts.force) {
    const what = opts.all
      ? `  - all images without at least one container associated to them\n${opts.imagesOnly ? '' : '  - all build cache\n'}`
      : '  - all dangling images\n';
    const ok = await confirm(
      ctx,
      `WARNING! This will remove:\n${what}  - all content no image, container, build cache record or running operation refers to\n\nAre you sure you want to continue? [y/N] `,
    );
    if (!ok) {
      ctx.stdout.write('\n');
      return;
    }
  }
  const res = await prune(await openStores(ctx.root()), { all: !!opts.all, keepBuildCache: !!opts.imagesOnly });
  if (res.untagged.length || res.deletedImages.length) {
    ctx.stdout.write('Deleted Images:\n');
    for (const u of res.untagged) ctx.stdout.write(`untagged: ${parseReference(u, { defaultTag: false }).familiar()}\n`);
    for (const d of res.deletedImages) ctx.stdout.write(`deleted: ${d}\n`);
    ctx.stdout.write('\n');
  }
  if (res.deletedCacheRecords) ctx.stdout.write(`Deleted build cache records: ${res.deletedCacheRecords}\n\n`);
  if (res.removedBlobs) ctx.stdout.write(`Deleted content blobs: ${res.removedBlobs}\n\n`);
  if (res.removedSnapshots) ctx.stdout.write(`Deleted snapshots: ${res.removedSnapshots}\n\n`);
  if (res.snapshotsSkipped) ctx.stdout.write(`Snapshots kept: ${res.snapshotsSkipped}\n\n`);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(res.reclaimedBytes)}\n`);
}

export async function checkAction(ctx: CliContext, opts: { quiet?: boolean }): Promise<void> {
  const res = await checkStore(await openStores(ctx.root()));
  for (const p of res.problems) ctx.stdout.write(`${p.kind}: ${p.message}\n`);
  if (!opts.quiet) {
    for (const o of res.orphaned) ctx.stdout.write(`orphaned: ${o.digest} (${humanSize(o.size)}, referenced by nothing; "kiln system prune" removes it)\n`);
  }
  const count = (k: string) => res.problems.filter((p) => p.kind === k).length;
  ctx.stdout.write(
    `checked ${res.blobs} blobs (${humanSize(res.bytes)}): ${count('corrupt')} corrupt, ${count('missing')} missing, ${count('invalid')} invalid, ${count('stray')} stray, ${res.orphaned.length} orphaned\n`,
  );
  if (res.problems.length > 0) ctx.exitCode = 1;
}

/** `until=24h` (a Go duration: h, m, s, ms; parts may be combined, as 1h30m) -> milliseconds. */
export function parseUntil(filter: string): number {
  const m = /^until=((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)$/.exec(filter);
  if (!m) throw new UsageError(`invalid filter "${filter}" for "--filter": only until=DURATION is supported (e.g. until=24h, until=1h30m)`);
  let ms = 0;
  for (const [, n, unit] of m[1]!.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(n) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[unit as 'h' | 'm' | 's' | 'ms'];
  return ms;
}

/** docker's sizes for --keep-storage: 10GB, 512mb, 1.5g, 2048 (bytes); k/m/g/t are powers of 1024. */
export function parseKeepStorage(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid value "${value}" for "--keep-storage": expected a size like 10GB or 512MB`);
  const exp = m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

export async function builderPruneAction(ctx: CliContext, opts: { all?: boolean; force?: boolean; filter?: string[]; keepStorage?: string }): Promise<void> {
  const filters = opts.filter ?? [];
  if (filters.length > 1) throw new UsageError('--filter: give until=DURATION once');
  const olderThanMs = filters.length ? parseUntil(filters[0]!) : undefined;
  const keepBytes = opts.keepStorage !== undefined ? parseKeepStorage(opts.keepStorage) : undefined;
  if (!opts.force) {
    const what = opts.all
      ? 'all build cache'
      : `${olderThanMs !== undefined ? `build cache older than ${filters[0]!.slice(6)}` : 'all dangling build cache'}${keepBytes !== undefined ? `, and the oldest build cache beyond ${opts.keepStorage}` : ''}`;
    if (!(await confirm(ctx, `WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `))) {
      ctx.stdout.write('\n');
      return;
    }
  }
  const res = await pruneBuildCache(await openStores(ctx.root()), { all: !!opts.all, ...(olderThanMs !== undefined ? { olderThanMs } : {}), ...(keepBytes !== undefined ? { keepBytes } : {}) });
  ctx.stdout.write(`Deleted build cache records: ${res.deletedCacheRecords}\n`);
  if (res.deletedContextCaches) ctx.stdout.write(`Deleted build context caches: ${res.deletedContextCaches}\n`);
  if (res.removedSnapshots) ctx.stdout.write(`Deleted snapshots: ${res.removedSnapshots}\n`);
  if (res.snapshotsSkipped) ctx.stdout.write(`Snapshots kept: ${res.snapshotsSkipped}\n`);
  if (res.removedBlobs) ctx.stdout.write(`Deleted content blobs: ${res.removedBlobs}\n`);
  ctx.stdout.write(`Total:\t${humanSize(res.reclaimedBytes)}\n`);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('builder')
    .description('Manage the build cache')
    .command('prune')
    .description('Remove build cache: with no flag, what can no longer be used')
    .option('-a, --all', 'remove all build cache')
    .option('--filter <filter>', 'until=DURATION: only cache older than that (e.g. until=24h)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--keep-storage <size>', 'then remove the oldest cache until the rest takes at most this much (e.g. 10GB)')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean; filter?: string[]; keepStorage?: string }) => builderPruneAction(ctx, opts));

  const system = program.command('system').description('Manage the kiln store');
  system
    .command('df')
    .description('Show disk usage (images, containers, volumes, build cache); image and cache sizes are the stored, compressed blobs')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { format?: string }) => dfAction(ctx, opts));
  system
    .command('prune')
    .description('Remove dangling images and unreferenced content (-a: all unused images and build cache)')
    .option('-a, --all', 'remove all unused images, not just dangling ones, and all build cache')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }) => pruneAction(ctx, opts));
  system
    .command('check')
    .description('Re-hash every blob and check that images, cache records and containers point at good content (exit 1 on problems)')
    .option('-q, --quiet', 'do not list orphaned blobs')
    .action(async (opts: { quiet?: boolean }) => checkAction(ctx, opts));
}
