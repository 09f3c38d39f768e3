/**
 * Inline cache (`--cache-to type=inline`, BuildKit's): the cache records of an image's own layers
 * travel inside its config, under `kiln.cache.v1`, so pushing the image shares its cache too, and a
 * later build with `--cache-from NAME` reuses those layers from the local store or the registry.
 */
import type { Readable } from 'node:stream';
import { KilnError } from '../diagnostics/errors.js';
import type { Digest, ImageConfig } from '../image/types.js';
import { recordsOf, type CacheConfig } from './cache-manifest.js';
import { ReadOnlyCacheSource } from './read-only-source.js';
import type { BlobCacheRecord } from './types.js';

export const INLINE_CACHE_KEY = 'kiln.cache.v1';

/** The image config with `records` embedded (snapshot names dropped: they only mean something in one root). */
export function withInlineCache(config: ImageConfig, records: readonly BlobCacheRecord[]): ImageConfig {
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const embedded: CacheConfig = { schemaVersion: 1, records: sorted.map((r) => ({ ...r, result: { ...r.result, snapshot: null } })) };
  return { ...config, [INLINE_CACHE_KEY]: embedded } as ImageConfig;
}

/** The valid records embedded in an image config (none when it carries no inline cache). */
export function inlineRecords(config: unknown): BlobCacheRecord[] {
  return recordsOf((config as Record<string, unknown> | undefined)?.[INLINE_CACHE_KEY]);
}

/** A read-only cache source made of an image's inline records and a way to read its layers. */
export class ImageCacheImport extends ReadOnlyCacheSource {
  constructor(
    source: string,
    records: readonly BlobCacheRecord[],
    private readonly readBlob: (digest: Digest, size: number) => Readable,
  ) {
    super(source, records);
  }

  /** A verified stream of a layer the records name (undefined for any other digest). */
  blob(digest: Digest): Readable | undefined {
    for (const r of this.records.values()) {
      const l = r.result.layers.find((x) => x.descriptor.digest === digest);
      if (l) return this.readBlob(digest, l.descriptor.size);
    }
    return undefined;
  }
}

/** What `openInlineCache` needs from the stores of the build's root. */
export interface InlineCacheDeps {
  root: string;
  images: { getImage(ref: string): Promise<{ config: unknown }> };
  content: { get(digest: Digest): Readable };
}

/**
 * `--cache-from NAME` for an image built with `--cache-to type=inline`: the local image when the
 * store has it (no network), else the image in its registry. Undefined when it carries no records.
 */
export async function openInlineCache(ref: string, deps: InlineCacheDeps): Promise<ImageCacheImport | undefined> {
  const local = await deps.images.getImage(ref).catch(() => undefined);
  if (local) {
    const records = inlineRecords(local.config);
    return records.length ? new ImageCacheImport(ref, records, (d) => deps.content.get(d)) : undefined;
  }
  const { createRegistryClient, parseRegistryReference, selectManifest, hostPlatform } = await import('../registry/index.js');
  const r = parseRegistryReference(ref);
  const c = await createRegistryClient(r.registry, { root: deps.root });
  let m = await c.fetchManifest(r.repository, r.digest ?? r.tag ?? 'latest');
  if (m.kind === 'index') {
    const chosen = selectManifest(m.index.manifests, hostPlatform());
    m = await c.fetchManifest(r.repository, chosen.digest, chosen);
  }
  if (m.kind !== 'manifest') return undefined;
  const cfg = await c.fetchBlobBuffer(r.repository, m.manifest.config);
  let parsed: unknown;
  try {
    parsed = JSON.parse(cfg.toString('utf8'));
  } catch {
    throw new KilnError('CACHE_IMPORT_INVALID', `--cache-from ${ref}: the image config is not valid JSON`);
  }
  const records = inlineRecords(parsed);
  if (!records.length) return undefined;
  return new ImageCacheImport(ref, records, (digest, size) => c.fetchBlob(r.repository, { mediaType: 'application/octet-stream', digest, size }));
}
