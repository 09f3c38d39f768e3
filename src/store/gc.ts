/**
 * Garbage collection of the content store by reachability (containerd's pkg/gc, smaller).
 *
 *   mark(roots, children) -> reachable        a pure function, tested without a disk
 *   sweep(all, reachable, remove)             deletes what is not reachable
 *
 * Roots come from *root providers*. Each stage that keeps references to blobs registers one:
 *
 *   import { registerRootProvider } from '../store/gc.js';
 *   registerRootProvider({
 *     name: 'cache',
 *     async roots(root) { return (await listCacheRecords(root)).map((r) => ({ digest: r.layer.digest, mediaType: r.layer.mediaType })); },
 *   });
 *
 * and adds one `import` line of its registering module to `src/store/providers.ts`, so every command that
 * collects garbage sees it. A root with a manifest/index media type (or unknown type) is opened and its
 * children (config, layers, sub-manifests) are marked too. Built-in providers: `images` (every image
 * record, named or dangling) and `leases` (src/store/leases.ts: blobs pinned by a running operation).
 */
import type { ContentStore, BlobInfo } from '../content/types.js';
import { isDigest } from '../image/digest.js';
import { CONFIG_TYPES, LAYER_TYPES, MAX_MANIFEST_BYTES, parseManifestOrIndex } from '../image/manifest.js';
import type { Digest } from '../image/types.js';

export interface GcNode {
  digest: Digest;
  /** When known; a manifest/index type (or none) makes GC read the blob for children. */
  mediaType?: string;
}

export interface RootProvider {
  /** Shown by `kiln system prune --debug` and in errors. */
  name: string;
  roots(root: string): Promise<GcNode[]>;
}

const providers = new Map<string, RootProvider>();

/** Register (or replace, by name) a root provider. */
export function registerRootProvider(p: RootProvider): void {
  providers.set(p.name, p);
}

export function rootProviders(): RootProvider[] {
  return [...providers.values()];
}

/**
 * Every provider kiln knows (src/store/providers.ts), loaded on first use so that commands which never
 * collect garbage do not load the cache and container modules. A provider that fails to load makes GC
 * fail rather than run with too few roots.
 */
export async function defaultRootProviders(): Promise<RootProvider[]> {
  await import('./providers.js');
  return rootProviders();
}

/**
 * Pure tri-colour mark: every node reachable from `roots` through `children`.
 * Cycles and shared children are visited once.
 */
export async function mark(roots: Iterable<GcNode>, children: (n: GcNode) => Promise<GcNode[]>): Promise<Set<Digest>> {
  const black = new Set<Digest>();
  const grey: GcNode[] = [];
  const seen = new Set<Digest>();
  for (const r of roots) {
    if (!seen.has(r.digest)) {
      seen.add(r.digest);
      grey.push(r);
    }
  }
  while (grey.length > 0) {
    const n = grey.pop()!;
    black.add(n.digest);
    for (const c of await children(n)) {
      if (!seen.has(c.digest)) {
        seen.add(c.digest);
        grey.push(c);
      }
    }
  }
  return black;
}

/** Everything in `all` that is not reachable is removed; returns what was removed. */
export async function sweep<T extends { digest: Digest }>(
  all: Iterable<T>,
  reachable: Set<Digest>,
  remove: (item: T) => Promise<void>,
): Promise<T[]> {
  const removed: T[] = [];
  for (const item of all) {
    if (reachable.has(item.digest)) continue;
    await remove(item);
    removed.push(item);
  }
  return removed;
}

/** Children of a content node: opens manifests and indexes; configs and layers are leaves. */
export function contentChildren(content: ContentStore): (n: GcNode) => Promise<GcNode[]> {
  return async (n) => {
    if (n.mediaType && (LAYER_TYPES.has(n.mediaType) || CONFIG_TYPES.has(n.mediaType))) return [];
    let info: BlobInfo;
    try {
      info = await content.stat(n.digest);
    } catch {
      return []; // a missing root is reported by `system check`, not a GC failure
    }
    if (info.size > MAX_MANIFEST_BYTES) return [];
    let buf: Buffer;
    try {
      buf = await content.readBuffer(n.digest);
    } catch {
      return []; // corrupt: leave it for `system check`
    }
    if (buf[0] !== 0x7b /* '{' */) return [];
    try {
      const parsed = parseManifestOrIndex(buf, n.mediaType);
      if (parsed.kind === 'index') return parsed.index.manifests.map((d) => ({ digest: d.digest, mediaType: d.mediaType }));
      return [parsed.manifest.config, ...parsed.manifest.layers].map((d) => ({ digest: d.digest, mediaType: d.mediaType }));
    } catch {
      return [];
    }
  };
}

export interface CollectOptions {
  root: string;
  content: ContentStore;
  /** Defaults to every registered provider. */
  providers?: RootProvider[];
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
}

export interface CollectResult {
  removed: BlobInfo[];
  reclaimedBytes: number;
  reachable: number;
}

/** Mark from every provider's roots, then delete unreachable blobs. */
export async function collectGarbage(options: CollectOptions): Promise<CollectResult> {
  const { content } = options;
  const ps = options.providers ?? (await defaultRootProviders());
  const roots: GcNode[] = [];
  for (const p of ps) {
    for (const r of await p.roots(options.root)) if (isDigest(r.digest)) roots.push(r);
  }
  // blobs other live kiln processes are writing (a pull or build between put and its image/cache record)
  for (const d of (await content.livePins?.()) ?? []) roots.push({ digest: d });
  const reachable = await mark(roots, contentChildren(content));
  const all: BlobInfo[] = [];
  for await (const b of content.walk()) all.push(b);
  // pins taken while we marked: read them again right before deleting
  for (const d of (await content.livePins?.()) ?? []) reachable.add(d);
  const removed = await sweep(all, reachable, async (b) => {
    if (options.dryRun) return;
    try {
      await content.delete(b.digest);
    } catch {
      // removed concurrently
    }
  });
  return { removed, reclaimedBytes: removed.reduce((n, b) => n + b.size, 0), reachable: reachable.size };
}
