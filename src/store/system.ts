/**
 * Whole-store operations behind `kiln system df | prune | check`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { FileCacheStore } from '../cache/record-store.js';
import { isPendingLayer, type CacheRecord, type StepResult } from '../cache/types.js';
import type { Snapshotter } from '../snapshot/types.js';
import { ContainerStore } from '../container/store.js';
import { VolumeStore, dirSize } from '../container/volumes.js';
import { isDigest } from '../image/digest.js';
import { parseImageConfig, parseManifestOrIndex } from '../image/manifest.js';
import type { Descriptor, Digest } from '../image/types.js';
import { contentChildren, collectGarbage, defaultRootProviders, mark, type GcNode } from './gc.js';
import { imageUsers } from './container-roots.js';
import { pruneSnapshots } from './snapshot-gc.js';
import { createSnapshotter } from '../snapshot/index.js';
import { pruneContextCaches } from '../context/cache.js';
import type { Stores } from './index.js';

export interface UsageRow {
  type: 'Images' | 'Containers' | 'Local Volumes' | 'Build Cache';
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

async function blobsOf(s: Stores, target: GcNode): Promise<Set<Digest>> {
  return mark([target], contentChildren(s.content));
}

async function sizeOf(s: Stores, digests: Iterable<Digest>): Promise<number> {
  let n = 0;
  for (const d of digests) n += await s.content.stat(d).then((i) => i.size, () => 0);
  return n;
}

/** `docker system df`: what each kind of object takes on disk, and what a prune could free. */
export async function diskUsage(s: Stores): Promise<UsageRow[]> {
  const users = await imageUsers(s.root);
  // Images: distinct targets; blobs shared between images are counted once
  const targets = new Map<string, Descriptor>();
  for (const r of await s.images.list()) targets.set(r.target.digest, r.target);
  const imageBlobs = new Set<Digest>();
  const activeBlobs = new Set<Digest>();
  let active = 0;
  for (const t of targets.values()) {
    const blobs = await blobsOf(s, { digest: t.digest, mediaType: t.mediaType });
    for (const b of blobs) imageBlobs.add(b);
    if (users.has(t.digest)) {
      active++;
      for (const b of blobs) activeBlobs.add(b);
    }
  }
  const imagesSize = await sizeOf(s, imageBlobs);
  const imagesReclaimable = imagesSize - (await sizeOf(s, activeBlobs));

  // Containers: their directories (config, state, logs); running ones are not reclaimable
  const containers = await new ContainerStore(s.root).list().catch(() => []);
  let cSize = 0;
  let cReclaim = 0;
  let cActive = 0;
  for (const c of containers) {
    const size = await dirSize(path.join(s.root, 'containers', c.record.id));
    cSize += size;
    if (c.state.status === 'running') cActive++;
    else cReclaim += size;
  }

  // Volumes: used when a container mounts them
  const volumes = await new VolumeStore(s.root).list().catch(() => []);
  const used = new Set<string>();
  for (const c of containers) for (const m of c.record.mounts) if (m.type === 'volume') used.add(m.name);
  let vSize = 0;
  let vReclaim = 0;
  for (const v of volumes) {
    const size = await new VolumeStore(s.root).size(v.Name).catch(() => 0);
    vSize += size;
    if (!used.has(v.Name)) vReclaim += size;
  }

  // Build cache: records, the blobs only they keep, and the build steps' snapshots (where a step's
  // files live until its layer is written: src/solver/ops/layers.ts); unpacked image layers are not
  // counted (docker counts those under Images)
  let records = 0;
  const cacheBlobs = new Set<Digest>();
  for await (const rec of new FileCacheStore(s.root).list()) {
    records++;
    for (const l of rec.result.layers) if (!isPendingLayer(l) && isDigest(l.descriptor.digest) && !imageBlobs.has(l.descriptor.digest)) cacheBlobs.add(l.descriptor.digest);
  }
  let cacheSize = await sizeOf(s, cacheBlobs);
  const sn = await createSnapshotter(s.root);
  for (const info of await sn.list()) {
    if (info.kind === 'committed' && !info.name.startsWith('layer-')) cacheSize += await sn.usage(info.name).then((u) => u.size, () => 0);
  }

  return [
    { type: 'Images', total: targets.size, active, size: imagesSize, reclaimable: imagesReclaimable },
    { type: 'Containers', total: containers.length, active: cActive, size: cSize, reclaimable: cReclaim },
    { type: 'Local Volumes', total: volumes.length, active: volumes.filter((v) => used.has(v.Name)).length, size: vSize, reclaimable: vReclaim },
    { type: 'Build Cache', total: records, active: 0, size: cacheSize, reclaimable: cacheSize },
  ];
}

export interface PruneResult {
  untagged: string[];
  deletedImages: Digest[];
  deletedCacheRecords: number;
  removedBlobs: number;
  /** Committed snapshots (build steps, unpacked layers) nothing used any more (src/store/snapshot-gc.ts). */
  removedSnapshots: number;
  /** Why no snapshot was looked at (a build running), if so. */
  snapshotsSkipped?: string;
  reclaimedBytes: number;
}

/**
 * `docker system prune [-a]` for what this store holds: dangling images (all unused images with `all`),
 * all build cache records with `all`, then every blob no root reaches.
 */
export async function prune(s: Stores, options: { all?: boolean; keepBuildCache?: boolean } = {}): Promise<PruneResult> {
  const users = await imageUsers(s.root);
  const result: PruneResult = { untagged: [], deletedImages: [], deletedCacheRecords: 0, removedBlobs: 0, removedSnapshots: 0, reclaimedBytes: 0 };
  const records = await s.images.list();
  const remove: string[] = [];
  const deletedTargets = new Set<string>();
  for (const r of records) {
    if (users.has(r.target.digest)) continue;
    const dangling = isDigest(r.name);
    if (!dangling && !options.all) continue;
    remove.push(r.name);
    if (!dangling) result.untagged.push(r.name);
    deletedTargets.add(r.target.digest);
  }
  // an image is deleted when no record of it is left
  const keep = records.filter((r) => !remove.includes(r.name));
  for (const t of deletedTargets) {
    if (keep.some((r) => r.target.digest === t)) continue;
    const target = records.find((r) => r.target.digest === t)!.target;
    const id = await s.images.imageId(target).catch(() => t as Digest);
    result.deletedImages.push(id);
  }
  await s.images.removeRecords(remove);
  if (options.all && !options.keepBuildCache) {
    const cache = new FileCacheStore(s.root);
    const keys: string[] = [];
    for await (const rec of cache.list()) keys.push(rec.key);
    for (const k of keys) await cache.delete(k);
    result.deletedCacheRecords = keys.length;
  }
  return { ...result, ...(await collectUnused(s, await createSnapshotter(s.root))) };
}

/**
 * After records or images went: the snapshots nothing uses any more (snapshot-gc.ts), then every
 * blob no root reaches, then the notes of compressed layers whose blobs are gone.
 */
async function collectUnused(s: Stores, sn: Snapshotter, now = Date.now()): Promise<{ removedSnapshots: number; snapshotsSkipped?: string; removedBlobs: number; reclaimedBytes: number }> {
  const snaps = await pruneSnapshots(s.root, sn, s.images, now);
  const gc = await collectGarbage({ root: s.root, content: s.content });
  await forgetCompressedLayers(s);
  return {
    removedSnapshots: snaps.removed.length,
    ...(snaps.skipped ? { snapshotsSkipped: snaps.skipped } : {}),
    removedBlobs: gc.removed.length,
    reclaimedBytes: gc.reclaimedBytes + snaps.reclaimedBytes,
  };
}

export interface BuildCachePruneResult {
  deletedCacheRecords: number;
  /** Digest caches and selection memos of build contexts (src/context/cache.ts). */
  deletedContextCaches: number;
  removedSnapshots: number;
  snapshotsSkipped?: string;
  removedBlobs: number;
  reclaimedBytes: number;
}

/**
 * `docker builder prune`: build cache records - every one with `all`, those last used more than
 * `olderThanMs` ago with it, otherwise those that can no longer be used (their snapshot is gone
 * and a layer of theirs was never written, or a written layer's blob is gone), then with
 * `keepBytes` the least recently used until the rest fit - then the snapshots and blobs that only
 * they kept. A record is used when a build finds it (the solver touches it).
 */
export async function pruneBuildCache(s: Stores, o: { all?: boolean; olderThanMs?: number; keepBytes?: number; now?: number } = {}): Promise<BuildCachePruneResult> {
  const now = o.now ?? Date.now();
  const sn = await createSnapshotter(s.root);
  const cache = new FileCacheStore(s.root);
  const doomed: string[] = [];
  const left: CacheRecord[] = [];
  // when a build last used it (the record file's mtime, solver cache hits touch it), else made it
  const used = new Map<string, number>();
  for await (const rec of cache.list()) {
    used.set(rec.key, Math.max(Date.parse(rec.created) || 0, (await cache.lastUsed(rec.key)) ?? 0));
    if (o.all) doomed.push(rec.key);
    else if (o.olderThanMs !== undefined) {
      if (now - used.get(rec.key)! > o.olderThanMs) doomed.push(rec.key);
      else left.push(rec);
    } else if (!(await usable(s, sn, rec.result))) doomed.push(rec.key);
    else left.push(rec);
  }
  if (o.keepBytes !== undefined && !o.all) doomed.push(...(await oldestOverBudget(sn, left, o.keepBytes, used)));
  for (const k of doomed) await cache.delete(k);
  const contexts = await pruneContextCaches(s.root, { all: !!o.all });
  const collected = await collectUnused(s, sn, now);
  return { deletedCacheRecords: doomed.length, deletedContextCaches: contexts.files, ...collected, reclaimedBytes: collected.reclaimedBytes + contexts.bytes };
}

/**
 * `--keep-storage`: the least recently used records to drop so that the build steps' snapshots the
 * rest still need (each one's own tree, counted once) fit in `keepBytes`. A snapshot is freed only
 * once no record left needs it or anything built on it, so dropping a record whose step a kept
 * record builds on frees nothing by itself; records go in that order until the rest fit.
 */
async function oldestOverBudget(sn: Snapshotter, records: readonly CacheRecord[], keepBytes: number, used: ReadonlyMap<string, number>): Promise<string[]> {
  const all = new Map((await sn.list()).map((i) => [i.name, i]));
  const own = new Map<string, number>();
  for (const i of all.values()) {
    if (i.kind === 'committed' && !i.name.startsWith('layer-')) own.set(i.name, await sn.usage(i.name).then((u) => u.size, () => 0));
  }
  // what a record keeps: its snapshot and everything under it (its pending layers are among those)
  const sizeOf = (rs: readonly CacheRecord[]): number => {
    const seen = new Set<string>();
    let total = 0;
    for (const r of rs) {
      for (let p: string | undefined = r.result.snapshot ?? undefined; p !== undefined && !seen.has(p); p = all.get(p)?.parent) {
        seen.add(p);
        total += own.get(p) ?? 0;
      }
    }
    return total;
  };
  const byAge = [...records].sort((a, b) => used.get(a.key)! - used.get(b.key)!);
  const out: string[] = [];
  while (byAge.length && sizeOf(byAge) > keepBytes) out.push(byAge.shift()!.key);
  return out;
}

/** Whether a build could still use this cached result (solver/ops/index.ts createRestore's rule, without imports). */
async function usable(s: Stores, sn: Snapshotter, r: StepResult): Promise<boolean> {
  if (r.meta?.local !== undefined) return true;
  if (r.snapshot && (await sn.stat(r.snapshot).then(() => true, () => false))) return true;
  for (const l of r.layers) if (isPendingLayer(l) || !(await s.content.has(l.descriptor.digest))) return false;
  return true; // re-created from its layers
}

/** Drop the notes of compressed layers (src/image/compress-layers.ts) whose plain or gzip blob is gone. */
async function forgetCompressedLayers(s: Stores): Promise<void> {
  const dir = path.join(s.root, 'meta', 'compressed');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    const file = path.join(dir, n);
    const plain = /^([a-f0-9]{64})\.json$/.exec(n)?.[1];
    const note = await fs
      .readFile(file, 'utf8')
      .then((t) => JSON.parse(t) as { digest?: unknown })
      .catch(() => undefined);
    const gz = typeof note?.digest === 'string' && isDigest(note.digest) ? note.digest : undefined;
    const keep = plain !== undefined && gz !== undefined && (await s.content.has(`sha256:${plain}` as Digest)) && (await s.content.has(gz as Digest));
    if (!keep) await fs.rm(file, { force: true });
  }
}

export interface CheckProblem {
  kind: 'corrupt' | 'missing' | 'invalid' | 'stray';
  digest?: string;
  message: string;
}

export interface CheckResult {
  blobs: number;
  bytes: number;
  problems: CheckProblem[];
  orphaned: Array<{ digest: Digest; size: number }>;
}

/** `kiln system check`: re-hash every blob; check every image, cache record and lease points at good blobs. */
export async function checkStore(s: Stores, onProgress?: (done: number) => void): Promise<CheckResult> {
  const problems: CheckProblem[] = [];
  const all = new Map<Digest, number>();
  let bytes = 0;
  for await (const b of s.content.walk()) {
    all.set(b.digest, b.size);
    const v = await s.content.verify(b.digest).catch((err: unknown) => ({ ok: false, actual: String((err as Error).message), size: b.size }));
    bytes += b.size;
    if (!v.ok) problems.push({ kind: 'corrupt', digest: b.digest, message: `blob ${b.digest} is corrupt: its content hashes to ${v.actual}` });
    onProgress?.(all.size);
  }
  for (const f of await s.content.strayFiles()) {
    problems.push({ kind: 'stray', message: `unexpected file in content/blobs/sha256: ${f}` });
  }

  // images: every manifest, config and layer must exist; configs must match their manifests
  for (const r of await s.images.list()) {
    const label = isDigest(r.name) ? `dangling image ${r.name}` : `image ${r.name}`;
    const visit = async (d: Descriptor, depth: number): Promise<void> => {
      if (!all.has(d.digest)) {
        problems.push({ kind: 'missing', digest: d.digest, message: `${label}: manifest ${d.digest} is missing` });
        return;
      }
      let parsed;
      try {
        parsed = parseManifestOrIndex(await s.content.readBuffer(d.digest), d.mediaType);
      } catch (err) {
        if (!problems.some((p) => p.digest === d.digest)) problems.push({ kind: 'invalid', digest: d.digest, message: `${label}: ${(err as Error).message}` });
        return;
      }
      if (parsed.kind === 'index') {
        if (depth < 4) for (const m of parsed.index.manifests) if (all.has(m.digest)) await visit(m, depth + 1);
        return;
      }
      const m = parsed.manifest;
      if (!all.has(m.config.digest)) {
        problems.push({ kind: 'missing', digest: m.config.digest, message: `${label}: config ${m.config.digest} is missing` });
      } else {
        try {
          const cfg = parseImageConfig(await s.content.readBuffer(m.config.digest));
          if (cfg.rootfs.diff_ids.length !== m.layers.length) {
            problems.push({ kind: 'invalid', digest: m.config.digest, message: `${label}: config has ${cfg.rootfs.diff_ids.length} diff_ids for ${m.layers.length} layers` });
          }
        } catch (err) {
          if (!problems.some((p) => p.digest === m.config.digest)) problems.push({ kind: 'invalid', digest: m.config.digest, message: `${label}: ${(err as Error).message}` });
        }
      }
      for (const l of m.layers) {
        if (!all.has(l.digest)) problems.push({ kind: 'missing', digest: l.digest, message: `${label}: layer ${l.digest} is missing` });
        else if (all.get(l.digest) !== l.size) problems.push({ kind: 'invalid', digest: l.digest, message: `${label}: layer ${l.digest} has ${all.get(l.digest)} bytes, the manifest says ${l.size}` });
      }
    };
    await visit(r.target, 0);
  }

  // other roots (cache records, leases, containers) must point at existing blobs
  const roots: GcNode[] = [];
  for (const p of await defaultRootProviders()) {
    const rs = await p.roots(s.root).catch(() => []);
    roots.push(...rs);
    if (p.name === 'images') continue;
    for (const r of rs) {
      if (!all.has(r.digest)) problems.push({ kind: 'missing', digest: r.digest, message: `${p.name}: referenced blob ${r.digest} is missing` });
    }
  }
  const reachable = await mark(roots, contentChildren(s.content));
  const orphaned = [...all.entries()].filter(([d]) => !reachable.has(d)).map(([digest, size]) => ({ digest, size }));

  // ingest leftovers of dead writers (normally removed when the store opens)
  const ingest = await fs.readdir(path.join(s.root, 'content', 'ingest')).catch(() => []);
  for (const f of ingest) {
    const pid = Number(/^(\d+)-/.exec(f)?.[1] ?? NaN);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) problems.push({ kind: 'stray', message: `leftover ingest file content/ingest/${f}` });
  }
  return { blobs: all.size, bytes, problems, orphaned };
}
