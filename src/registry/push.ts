import PQueue from 'p-queue';
import { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import { compressedManifest } from '../image/compress-layers.js';
import type { Descriptor, Digest } from '../image/types.js';
import { createRegistryClient, type RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { parseManifest, sha256Digest } from './manifest.js';
import { formatReference, parseRegistryReference } from './reference.js';
import { mountCandidates, recordBlobSource } from './sources.js';
import { openStores } from './stores.js';
import type { PushOptions, PushResult, TransferEvent } from './types.js';

/**
 * Upload blobs from the content store to `repository`: HEAD first (skip what is there), then a
 * cross-repository mount when a source on the same registry is known, else an upload. Several at a time.
 */
export async function pushBlobs(
  client: RegistryClient,
  repository: string,
  content: ContentStore,
  /** Blobs to upload; `data` when the blob is in memory rather than in the content store. */
  blobs: Array<{ desc: Descriptor; kind: 'layer' | 'config' | 'manifest'; data?: Buffer }>,
  opts: { root?: string; concurrency?: number; mountFrom?: string[]; onEvent?: (e: TransferEvent) => void } = {},
): Promise<void> {
  const emit = opts.onEvent ?? (() => {});
  const queue = new PQueue({ concurrency: opts.concurrency ?? 5 });
  const seen = new Set<string>();
  let failed: unknown;
  const jobs: Array<Promise<void>> = [];
  for (const { desc, kind, data } of blobs) {
    if (seen.has(desc.digest)) continue;
    seen.add(desc.digest);
    if (data && (data.length !== desc.size || sha256Digest(data) !== desc.digest)) {
      throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `in-memory blob does not match its descriptor ${desc.digest}`);
    }
    emit({ type: 'blob', digest: desc.digest, kind, status: 'waiting', total: desc.size });
    jobs.push(
      queue
        .add(async () => {
          if (failed) return;
          const info = data ? { size: data.length } : await content.stat(desc.digest);
          if (info.size !== desc.size) {
            throw new RegistryError('REGISTRY_SIZE_MISMATCH', `blob ${desc.digest} is ${info.size} bytes in the store but ${desc.size} in its descriptor`);
          }
          const mountFrom = [...(opts.mountFrom ?? []), ...(opts.root ? await mountCandidates(opts.root, desc.digest, client.registry) : [])];
          let last = 0;
          const result = await client.pushBlob(repository, desc, data ? () => Readable.from([data]) : () => content.get(desc.digest), {
            mountFrom: [...new Set(mountFrom)],
            onProgress: (n) => {
              if (n - last >= 512 * 1024 || n === desc.size) {
                last = n;
                emit({ type: 'blob', digest: desc.digest, kind, status: 'uploading', current: n, total: desc.size });
              }
            },
          });
          emit({ type: 'blob', digest: desc.digest, kind, status: result === 'exists' ? 'exists' : result === 'mounted' ? 'mounted' : 'pushed', total: desc.size });
          if (opts.root) await recordBlobSource(opts.root, desc.digest, client.registry, repository).catch(() => {});
        })
        .catch((err: unknown) => {
          emit({ type: 'blob', digest: desc.digest, kind, status: 'failed', total: desc.size });
          if (!failed) {
            failed = err;
            queue.clear();
          }
        }),
    );
  }
  await Promise.all(jobs);
  if (failed) throw failed;
}

/** Push one image manifest (blobs first) or an index (each child manifest first) from the content store. */
async function pushTree(
  client: RegistryClient,
  repository: string,
  content: ContentStore,
  desc: Descriptor,
  opts: PushOptions,
  depth = 0,
): Promise<void> {
  if (depth > 2) throw new RegistryError('REGISTRY_BAD_MANIFEST', 'index nesting deeper than 2 levels');
  const bytes = await content.readBuffer(desc.digest);
  const parsed = parseManifest(bytes, desc.mediaType, desc.mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      if (!(await content.has(child.digest))) continue; // a platform that was never pulled: the registry must have it
      await pushTree(client, repository, content, child, opts, depth + 1);
    }
  } else {
    const m = parsed.manifest;
    await pushBlobs(client, repository, content, [{ desc: m.config, kind: 'config' }, ...m.layers.map((l) => ({ desc: l, kind: 'layer' as const }))], {
      root: opts.root,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
  }
  if (depth > 0) await client.pushManifest(repository, desc.digest, bytes, parsed.mediaType);
}

/**
 * `kiln push NAME[:TAG]`: push the image the name points at (manifest or index, with every
 * blob) to its registry and tag it there. Returns the manifest digest.
 */
export async function pushImage(reference: string, opts: PushOptions): Promise<PushResult> {
  const ref = parseRegistryReference(reference);
  const { content, images } = await openStores(opts);
  const name = formatReference(ref);
  const stored = await images.get(name);
  if (!stored) {
    throw new RegistryError('REGISTRY_NOT_FOUND', `no such image in the local store: ${name}`, { hint: 'build, pull or tag it first ("kiln images" lists names)' });
  }
  // a built image's layers are plain tars locally; the registry gets them gzip-compressed
  const target = (await compressedManifest(content, opts.root, stored)).descriptor;
  const client = await createRegistryClient(ref.registry, opts);
  try {
    await pushTree(client, ref.repository, content, target, opts);
    const bytes = await content.readBuffer(target.digest);
    const mediaType = parseManifest(bytes, target.mediaType, target.mediaType).mediaType;
    const digest: Digest = await client.pushManifest(ref.repository, ref.tag ?? target.digest, bytes, mediaType);
    opts.onEvent?.({ type: 'done', name, digest, downloaded: false });
    return { name, digest, size: bytes.length };
  } finally {
    client.close();
  }
}
