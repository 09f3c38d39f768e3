import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { isDigest } from '../image/digest.js';
import { MediaType, type Descriptor, type Digest, type Manifest } from '../image/types.js';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE } from './local-layout.js';
import type { CacheKey, BlobCacheRecord, LayerRef } from './types.js';

export interface CacheConfig {
  schemaVersion: 1;
  records: BlobCacheRecord[];
}

export interface BuiltCacheManifest {
  config: { desc: Descriptor; bytes: Buffer };
  manifest: { desc: Descriptor; bytes: Buffer };
  layers: Descriptor[];
}

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/**
 * The cache as one OCI manifest (the same for a local layout and a registry): config = the records
 * (snapshot names dropped: they are local to a root), layers = every layer blob they use.
 */
export function buildCacheManifest(input: readonly BlobCacheRecord[]): BuiltCacheManifest {
  const layers = new Map<string, Descriptor>();
  const records: BlobCacheRecord[] = [];
  for (const r of [...input].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    for (const l of r.result.layers) layers.set(l.descriptor.digest, l.descriptor);
    records.push({ ...r, result: { ...r.result, snapshot: null } });
  }
  const cfgBytes = Buffer.from(JSON.stringify({ schemaVersion: 1, records } satisfies CacheConfig));
  const cfgDesc: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha(cfgBytes), size: cfgBytes.length };
  const manifest: Manifest & { artifactType: string } = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: cfgDesc,
    layers: [...layers.values()].map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })),
  };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { desc: cfgDesc, bytes: cfgBytes },
    manifest: { desc: { mediaType: MediaType.OciManifest, digest: sha(mBytes), size: mBytes.length }, bytes: mBytes },
    layers: [...layers.values()],
  };
}

const KEY_RE = /^sha256:[0-9a-f]{64}$/;

function validLayer(l: unknown): l is LayerRef {
  const x = l as LayerRef;
  return (
    typeof x === 'object' && x !== null && typeof x.descriptor === 'object' && x.descriptor !== null &&
    isDigest(x.descriptor.digest) && Number.isSafeInteger(x.descriptor.size) && x.descriptor.size >= 0 &&
    typeof x.descriptor.mediaType === 'string' && isDigest(x.diffID) &&
    // a pending layer names a local snapshot: never taken from an imported cache
    (x as { pending?: unknown }).pending === undefined
  );
}

export function validRecord(r: unknown): r is BlobCacheRecord {
  const x = r as BlobCacheRecord;
  return (
    typeof x === 'object' && x !== null && typeof x.key === 'string' && KEY_RE.test(x.key) &&
    typeof x.result === 'object' && x.result !== null && Array.isArray(x.result.layers) && x.result.layers.every(validLayer) &&
    Array.isArray(x.inputs) && x.inputs.every((k) => typeof k === 'string') &&
    typeof x.vertex === 'object' && x.vertex !== null && typeof x.vertex.name === 'string'
  );
}

/** Check a cache manifest read from an untrusted source; returns its config descriptor. */
export function checkCacheManifest(m: unknown, src: string): Descriptor {
  const man = m as Manifest;
  if (!man?.config || man.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE || !isDigest(man.config.digest)) {
    throw new InvalidArgumentError(`--cache-from ${src}: the manifest is not a kiln cache manifest`, { code: 'CACHE_IMPORT_INVALID' });
  }
  return man.config;
}

/** The valid records of a cache config (invalid ones are skipped, never trusted). */
export function recordsOf(config: unknown): BlobCacheRecord[] {
  const recs = (config as CacheConfig | undefined)?.records;
  return Array.isArray(recs) ? recs.filter(validRecord).map((r) => ({ ...r, result: { ...r.result, snapshot: null } })) : [];
}

export type { CacheKey };
