import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { isDigest, shortId } from '../../image/digest.js';
import { formatTable, humanSince, humanSize } from '../../image/format.js';
import { renderTemplate } from '../../image/inspect.js';
import { layerSizes } from '../../image/layer-size.js';
import { parseReference } from '../../image/reference.js';
import { openStores, type Stores } from '../../store/index.js';
import type { CliContext } from '../context.js';

export interface ImagesOptions {
  all?: boolean;
  quiet?: boolean;
  digests?: boolean;
  noTrunc?: boolean;
  format?: string;
  filter?: string[];
}

interface Row {
  Repository: string;
  Tag: string;
  Digest: string;
  ID: string;
  FullID: string;
  CreatedAt: string;
  CreatedSince: string;
  Size: string;
  created: number;
}

/** Total uncompressed size of an image's layers (as `docker images` shows). */
export async function imageSize(s: Stores, img: Awaited<ReturnType<Stores['images']['resolve']>>): Promise<number> {
  const sizes = await layerSizes(s.root, s.content, img.manifest.layers, img.config.rootfs.diff_ids);
  return sizes.reduce((a, b) => a + b, 0);
}

function goTime(iso: string | undefined): string {
  const t = iso ? new Date(iso) : undefined;
  if (!t || Number.isNaN(t.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getUTCFullYear()}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())} ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())} +0000 UTC`;
}

export async function listImages(ctx: CliContext, filter: string | undefined, opts: ImagesOptions): Promise<void> {
  const format = opts.format ?? 'table';
  const s = await openStores(ctx.root());
  let want: { name: string; tag?: string } | undefined;
  if (filter) {
    const ref = parseReference(filter, { defaultTag: false });
    want = ref.tag === undefined ? { name: ref.name } : { name: ref.name, tag: ref.tag };
  }
  const rows: Row[] = [];
  const cache = new Map<string, { id: string; created?: string; size: number }>();
  for (const rec of await s.images.list()) {
    let info = cache.get(rec.target.digest);
    if (!info) {
      let img;
      try {
        img = await s.images.loadTarget(rec.target);
      } catch (err) {
        ctx.stderr.write(`kiln: skipping ${rec.name}: ${(err as Error).message}\n`);
        continue;
      }
      info = { id: img.id, size: await imageSize(s, img) };
      if (img.config.created) info.created = img.config.created;
      cache.set(rec.target.digest, info);
    }
    let repo = '<none>';
    let tag = '<none>';
    let repoName: string | undefined;
    if (!isDigest(rec.name)) {
      const ref = parseReference(rec.name, { defaultTag: false });
      repo = ref.familiarName();
      repoName = ref.name;
      if (ref.tag !== undefined) tag = ref.tag;
    }
    if (want && (repoName !== want.name || (want.tag !== undefined && tag !== want.tag))) continue;
    if (!filters(opts.filter ?? [], { dangling: isDigest(rec.name), repo, tag })) continue;
    rows.push({
      Repository: repo,
      Tag: tag,
      Digest: rec.target.digest,
      ID: opts.noTrunc ? info.id : shortId(info.id),
      FullID: info.id,
      CreatedAt: goTime(info.created),
      CreatedSince: humanSince(info.created),
      Size: humanSize(info.size),
      created: info.created ? Date.parse(info.created) || 0 : 0,
    });
  }
  rows.sort((a, b) => b.created - a.created || a.Repository.localeCompare(b.Repository) || a.Tag.localeCompare(b.Tag));

  if (opts.quiet) {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.ID)) continue;
      seen.add(r.ID);
      ctx.stdout.write(`${r.ID}\n`);
    }
    return;
  }
  if (format === 'json' || format === '{{json .}}') {
    for (const r of rows) {
      ctx.stdout.write(
        `${JSON.stringify({
          Containers: 'N/A',
          CreatedAt: r.CreatedAt,
          CreatedSince: r.CreatedSince,
          Digest: r.Digest,
          ID: r.ID,
          Repository: r.Repository,
          SharedSize: 'N/A',
          Size: r.Size,
          Tag: r.Tag,
          UniqueSize: 'N/A',
          VirtualSize: r.Size,
        })}\n`,
      );
    }
    return;
  }
  if (format === 'table') {
    const header = ['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
    ctx.stdout.write(
      formatTable(
        header,
        rows.map((r) => [r.Repository, r.Tag, ...(opts.digests ? [r.Digest] : []), r.ID, r.CreatedSince, r.Size]),
      ),
    );
    return;
  }
  if (format.includes('{{')) {
    for (const r of rows) {
      try {
        ctx.stdout.write(`${renderTemplate(format, r)}\n`);
      } catch (err) {
        throw new UsageError(`invalid --format: ${(err as Error).message}`);
      }
    }
    return;
  }
  throw new UsageError(`invalid value "${format}" for "--format": expected table, json or a template`);
}

/** Go's path.Match for reference filters: `*` and `?` within a path segment, `[...]` classes. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function filters(list: string[], row: { dangling: boolean; repo: string; tag: string }): boolean {
  const refs: RegExp[] = [];
  for (const f of list) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (key === 'dangling') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`invalid filter 'dangling=${value}': expected true or false`);
      if ((value === 'true') !== row.dangling) return false;
    } else if (key === 'reference') {
      refs.push(globToRegExp(value));
    } else {
      throw new UsageError(`invalid filter '${key}': kiln supports dangling=true|false and reference=PATTERN`);
    }
  }
  if (refs.length === 0) return true;
  if (row.dangling) return false;
  return refs.some((re) => re.test(row.repo) || re.test(`${row.repo}:${row.tag}`));
}

function collectFilter(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

export function addListOptions(cmd: Command): Command {
  return cmd
    .option('-f, --filter <filter>', 'filter output: dangling=true|false, reference=PATTERN (repeatable)', collectFilter, [])
    .option('-a, --all', 'show all images (kiln keeps no intermediate images, so the same as without)')
    .option('-q, --quiet', 'only show image IDs')
    .option('--digests', 'show manifest digests')
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', 'table, json, or a Go-style template like "{{.Repository}}:{{.Tag}}"', 'table');
}

export function register(program: Command, ctx: CliContext): void {
  addListOptions(
    program
      .command('images [repository]')
      .description('List images')
      .action(async (repo: string | undefined, opts: ImagesOptions & { trunc?: boolean }) => {
        await listImages(ctx, repo, { ...opts, noTrunc: opts.trunc === false });
      }),
  );
}
