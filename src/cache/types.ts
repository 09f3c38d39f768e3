import type { SourceRange } from '../diagnostics/types.js';
import type { Descriptor, Digest } from '../image/types.js';

/** A cache key: `sha256:<hex>` over an op definition and its inputs' keys (see solver/cache-key.ts). */
export type CacheKey = string;

/** One layer of a result: the blob in the content store and the digest of its uncompressed tar. */
export interface LayerRef {
  descriptor: Descriptor;
  diffID: Digest;
  /** The step changed nothing: the layer is an empty tar (kept, as docker 20.10's BuildKit does). */
  empty?: boolean;
  /**
   * When the step that made the layer ran (or SOURCE_DATE_EPOCH): the history time of the layer, so a
   * rebuild from cache, in this root or another, gives the same image config and ID (as BuildKit).
   */
  created?: string;
}

/**
 * A layer not written yet: the diff of committed snapshot `pending` against its parent. A build
 * step's layer stays like this until something needs the blob (the exported image, a cache
 * export, `COPY --link`), as BuildKit computes blobs only on export; see solver/ops/layers.ts.
 * Valid while the snapshot exists (it is an ancestor of, or is, the result's snapshot).
 */
export interface PendingLayerRef {
  pending: string;
  created?: string;
}

/** A layer of a step result: a blob, or one still to be written from its snapshot. */
export type StepLayer = LayerRef | PendingLayerRef;

export function isPendingLayer(l: StepLayer): l is PendingLayerRef {
  return (l as PendingLayerRef).pending !== undefined;
}

/**
 * What a step produced, in a form that can be stored and reused: the committed snapshot
 * (null for `scratch`/an empty filesystem) and the full chain of layers that make it up, base first.
 * A cache hit hands this back without running anything.
 */
export interface StepResult {
  snapshot: string | null;
  layers: StepLayer[];
  /** Op-specific facts that travel with the result (plain JSON; never secrets). */
  meta?: Record<string, unknown>;
}

/** A result whose layers are all blobs: what an image or an exported cache is made of. */
export type BlobStepResult = Omit<StepResult, 'layers'> & { layers: LayerRef[] };

/** Where the cache record came from, for a vertex that is reported CACHED. */
export type CacheSource = 'local' | 'import';

/**
 * One cache record: key → result, with what is needed to explain it later.
 * Persisted as `<root>/meta/cache/records/<hex>.json`.
 */
export interface CacheRecord {
  key: CacheKey;
  result: StepResult;
  /** ISO time the record was written. */
  created: string;
  /** The vertex that produced it (name as shown in progress, Dockerfile ranges). */
  vertex: { name: string; ranges?: SourceRange[] };
  /** The cache keys of the inputs that produced it, in input order. */
  inputs: CacheKey[];
  /** The named key components (see solver/types.ts CacheMap.components). */
  components?: Record<string, string>;
}

/** A record whose layers are all blobs (an exported or imported cache). */
export type BlobCacheRecord = Omit<CacheRecord, 'result'> & { result: BlobStepResult };

/** Key → record storage. Implementations must make `put` atomic and safe across processes. */
export interface CacheStore {
  /** The record for `key`, or undefined. Never throws for a missing or unreadable record. */
  get(key: CacheKey): Promise<CacheRecord | undefined>;
  /** Store a record, replacing any with the same key (last writer wins; both are valid). */
  put(record: CacheRecord): Promise<void>;
  delete(key: CacheKey): Promise<void>;
  list(): AsyncIterable<CacheRecord>;
  /** Note that a build used the record now (for pruning by age); best effort, never throws. */
  touch?(key: CacheKey): Promise<void>;
}

/** One step of a previous build, remembered to explain the next build's cache misses. */
export interface HistoryStep {
  key: CacheKey;
  name: string;
  components: Record<string, string>;
  inputs: CacheKey[];
}

/** The last build of one Dockerfile + target, by step id (see solver stepIdOf). */
export interface BuildHistory {
  scope: string;
  updated: string;
  steps: Record<string, HistoryStep>;
}

/** What a GC must keep alive because a cache record points at it. */
export interface GcRoots {
  snapshots: Set<string>;
  blobs: Set<string>;
}
