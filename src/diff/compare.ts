import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { MediaType, type Digest } from '../image/types.js';
import { withSnapshotDir } from '../snapshot/mount.js';
import type { Mount, Snapshotter } from '../snapshot/types.js';
import { treeChanges, upperDirChanges, type ChangeOptions, type LayerEntry } from './changes.js';
import { gzipParallel, prepend, rechunk } from './compress.js';
import { writeTar } from './tar-writer.js';
import type { DiffOptions, LayerResult } from './types.js';

/** SOURCE_DATE_EPOCH from the environment, when it is a non-negative integer. */
export function envSourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(v)}`, { code: 'LAYER_INVALID_SOURCE_DATE_EPOCH' });
  return Number(v);
}

function changeOptions(o: DiffOptions): ChangeOptions {
  const sde = o.sourceDateEpoch ?? envSourceDateEpoch();
  return sde === undefined ? {} : { sourceDateEpoch: sde };
}

/**
 * The uncompressed tar of `entries` and, as it streams, its digest: the lowest-level way to get a
 * layer (e.g. for `kiln export`). `result()` is valid once the stream has been consumed.
 */
export function tarWithDigest(entries: AsyncIterable<LayerEntry>, blockSize = 1 << 20): { stream: AsyncGenerator<Buffer>; result(): { diffID: Digest; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  let digest: Digest | undefined;
  const stream = (async function* () {
    for await (const b of rechunk(writeTar(entries), blockSize)) {
      hash.update(b);
      size += b.length;
      yield b;
    }
    digest = `sha256:${hash.digest('hex')}` as Digest;
  })();
  return {
    stream,
    result() {
      if (!digest) throw new Error('tarWithDigest: stream not consumed yet');
      return { diffID: digest, size };
    },
  };
}

/** A plain layer up to this size is handed to the content store in memory. */
const SMALL_LAYER = 256 << 10;

/** Write `entries` as a layer blob (gzip by default, compressed on all cores) into `store`. */
export async function writeLayer(store: ContentStore, entries: AsyncIterable<LayerEntry>, o: DiffOptions = {}): Promise<LayerResult> {
  const compression = o.compression ?? 'gzip';
  const docker = o.mediaTypes === 'docker';
  if (compression === 'none') {
    // a plain layer's digest is its diffID: the store's own hash is the only one needed. A small
    // layer (most steps') goes to the store in memory, which writes it in two thread-pool round
    // trips instead of a dozen (S1's export writes four 2 KB layers).
    const it = rechunk(writeTar(entries), o.blockSize ?? 1 << 20)[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let size = 0;
    let whole = false;
    while (size <= SMALL_LAYER) {
      const r = await it.next();
      if (r.done) {
        whole = true;
        break;
      }
      head.push(r.value);
      size += r.value.length;
    }
    const info = whole
      ? await store.put(head.length === 1 ? head[0]! : Buffer.concat(head))
      : await store.put(Readable.from(prepend(head, it), { objectMode: false, highWaterMark: 4 << 20 }));
    return { descriptor: { mediaType: docker ? MediaType.DockerLayer : MediaType.OciLayer, digest: info.digest, size: info.size }, diffID: info.digest, uncompressedSize: info.size };
  }
  const t = tarWithDigest(entries, o.blockSize ?? 1 << 20);
  const gz: { level?: number; concurrency?: number; storeIncompressible?: boolean } = {};
  if (o.level !== undefined) gz.level = o.level;
  if (o.storeIncompressible !== undefined) gz.storeIncompressible = o.storeIncompressible;
  if (o.concurrency !== undefined) gz.concurrency = o.concurrency;
  const body = gzipParallel(t.stream, gz);
  const info = await store.put(Readable.from(body, { objectMode: false, highWaterMark: 4 << 20 }));
  const { diffID, size } = t.result();
  const mediaType = docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  return { descriptor: { mediaType, digest: info.digest, size: info.size }, diffID, uncompressedSize: size };
}

/** The change entries of snapshot `keyOrName` against its parent (what `diffSnapshot` writes). */
export async function snapshotChanges(sn: Snapshotter, keyOrName: string, o: DiffOptions = {}): Promise<AsyncGenerator<LayerEntry>> {
  const co = changeOptions(o);
  const upper = await sn.upperDir(keyOrName);
  if (upper !== null) return upperDirChanges(upper, co);
  const info = await sn.stat(keyOrName);
  const lower = info.parent !== undefined ? await sn.fsDir(info.parent) : null;
  return treeChanges(lower, await sn.fsDir(keyOrName), co);
}

/**
 * Comparer: snapshot `keyOrName` (active or committed) against its parent → an OCI layer blob in
 * the content store. Overlay snapshots are read from their upper dir (whiteout devices and opaque
 * dirs converted); native ones by comparing the whole tree with the parent's. Do not write to an
 * active snapshot while it is diffed (LAYER_FILE_CHANGED if a file shrinks).
 */
export async function diffSnapshot(sn: Snapshotter, keyOrName: string, store: ContentStore, o: DiffOptions = {}): Promise<LayerResult> {
  return writeLayer(store, await snapshotChanges(sn, keyOrName, o), o);
}

/**
 * containerd's Comparer.Compare: the difference between two mounted trees (`lower` may be [] for
 * "empty") as a layer blob. Mounts them when needed (root); single binds are read in place.
 */
export async function compareMounts(lower: Mount[], upper: Mount[], store: ContentStore, o: DiffOptions = {}): Promise<LayerResult> {
  const co = changeOptions(o);
  return withSnapshotDir(upper, async (u) => {
    if (lower.length === 0) return writeLayer(store, treeChanges(null, u, co), o);
    return withSnapshotDir(lower, (l) => writeLayer(store, treeChanges(l, u, co), o));
  });
}
