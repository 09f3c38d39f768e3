/**
 * `--cache-to type=registry,ref=REG/REPO:TAG` and `--cache-from type=registry,ref=...`: the same
 * cache manifest as the local layout (cache-manifest.ts), pushed with the registry client
 * (blobs the registry already has are skipped) and read back with verified blob streams.
 */
import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import { ReadOnlyCacheSource } from './read-only-source.js';
import { KilnError } from '../diagnostics/errors.js';
import { isDigest } from '../image/digest.js';
import { MediaType, type Descriptor, type Digest } from '../image/types.js';
import { buildCacheManifest, checkCacheManifest, recordsOf } from './cache-manifest.js';
import type { ExportCacheResult } from './export-local.js';
import type { CacheKey, BlobCacheRecord } from './types.js';

async function client(ref: string, root: string) {
  const { createRegistryClient, parseRegistryReference } = await import('../registry/index.js');
  const r = parseRegistryReference(ref);
  return { c: await createRegistryClient(r.registry, { root }), repo: r.repository, tag: r.digest ?? r.tag ?? 'latest' };
}

export async function exportCacheRegistry(opts: { ref: string; records: readonly BlobCacheRecord[]; content: ContentStore; root: string }): Promise<ExportCacheResult> {
  const { pushBlobs } = await import('../registry/push.js');
  const { c, repo, tag } = await client(opts.ref, opts.root);
  const built = buildCacheManifest(opts.records);
  let written = 0;
  let bytes = 0;
  let skipped = 0;
  await pushBlobs(
    c,
    repo,
    opts.content,
    [...built.layers.map((desc) => ({ desc, kind: 'layer' as const })), { desc: built.config.desc, kind: 'config' as const, data: built.config.bytes }],
    {
      root: opts.root,
      onEvent: (e) => {
        if (e.type !== 'blob') return;
        if (e.status === 'exists' || e.status === 'mounted') skipped++;
        if (e.status === 'pushed') {
          written++;
          bytes += e.total ?? 0;
        }
      },
    },
  );
  await c.pushManifest(repo, tag, built.manifest.bytes, MediaType.OciManifest);
  return { manifest: built.manifest.desc, records: opts.records.length, blobsWritten: written, blobsSkipped: skipped, bytesWritten: bytes };
}

/** A read-only cache source in a registry; blobs stream (verified) from it when a hit needs them. */
export class RegistryCacheImport extends ReadOnlyCacheSource {
  private constructor(
    ref: string,
    records: Map<CacheKey, BlobCacheRecord>,
    private readonly fetch: (desc: Descriptor) => Readable,
    private readonly sizes: Map<string, number>,
  ) {
    super(ref, records.values());
  }

  static async open(ref: string, root: string): Promise<RegistryCacheImport> {
    const { c, repo, tag } = await client(ref, root);
    const m = await c.fetchManifest(repo, tag);
    const cfgDesc = checkCacheManifest(JSON.parse(m.bytes.toString('utf8')), ref);
    const cfg = await c.fetchBlobBuffer(repo, cfgDesc);
    let parsed: unknown;
    try {
      parsed = JSON.parse(cfg.toString('utf8'));
    } catch {
      throw new KilnError('CACHE_IMPORT_INVALID', `--cache-from ${ref}: the cache config is not valid JSON`);
    }
    const records = new Map(recordsOf(parsed).map((r) => [r.key, r]));
    const sizes = new Map<string, number>();
    for (const r of records.values()) for (const l of r.result.layers) sizes.set(l.descriptor.digest, l.descriptor.size);
    return new RegistryCacheImport(ref, records, (desc) => c.fetchBlob(repo, desc), sizes);
  }

  /** A verified stream of a layer the records name (undefined for any other digest). */
  blob(digest: Digest): Readable | undefined {
    const size = this.sizes.get(digest);
    if (size === undefined || !isDigest(digest)) return undefined;
    return this.fetch({ mediaType: 'application/octet-stream', digest, size });
  }
}
