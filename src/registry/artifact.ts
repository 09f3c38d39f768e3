import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import type { Descriptor, Digest, Manifest } from '../image/types.js';
import { createRegistryClient, type RegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { parseManifest, sha256Digest } from './manifest.js';
import { fetchBlobsInto } from './pull.js';
import { pushBlobs } from './push.js';
import { formatReference, parseRegistryReference } from './reference.js';
import { openStores } from './stores.js';
import type { TransferEvent } from './types.js';

/**
 * Generic manifests in a registry, for things that are not runnable images: the build cache
 * (`--cache-to type=registry,ref=…` pushes the same manifest + config + layers that the local
 * cache layout holds) or any OCI artifact.
 *
 *   await pushArtifact('reg/cache:main', { manifest: bytes, mediaType, blobs: [{ desc: cfg, data: cfgBytes }, ...layers] }, { root, content });
 *   const a = await openArtifact('reg/cache:main', { root });
 *   const cfg = await a.readBlob(a.manifest.config);       // verified, size-capped
 *   await a.fetchInto(content, [layerDesc]);               // verified into the content store
 *   a.close();
 */
export interface ArtifactBlob {
  desc: Descriptor;
  /** The bytes, when the blob is not in the content store (e.g. a cache config written just now). */
  data?: Buffer;
}

export interface ArtifactPushOptions extends Omit<RegistryClientOptions, 'root'> {
  root: string;
  content?: ContentStore;
  concurrency?: number;
  mountFrom?: string[];
  onEvent?: (e: TransferEvent) => void;
}

/** Upload `blobs` (skipping those the repository has), then PUT the manifest under the reference's tag (or digest). */
export async function pushArtifact(
  reference: string,
  artifact: { manifest: Buffer; mediaType: string; blobs: ArtifactBlob[] },
  opts: ArtifactPushOptions,
): Promise<{ name: string; digest: Digest; size: number }> {
  const ref = parseRegistryReference(reference);
  const parsed = parseManifest(artifact.manifest, artifact.mediaType, artifact.mediaType);
  if (parsed.kind !== 'manifest') throw new RegistryError('REGISTRY_BAD_MANIFEST', 'pushArtifact takes an image manifest, not an index');
  const listed = new Set([parsed.manifest.config.digest, ...parsed.manifest.layers.map((l) => l.digest)]);
  for (const b of artifact.blobs) {
    if (!listed.has(b.desc.digest)) throw new RegistryError('REGISTRY_BAD_MANIFEST', `blob ${b.desc.digest} is not referenced by the manifest`);
  }
  const content = opts.content ?? (await openStores({ root: opts.root })).content;
  const client = await createRegistryClient(ref.registry, opts);
  try {
    await pushBlobs(
      client,
      ref.repository,
      content,
      artifact.blobs.map((b) => ({ desc: b.desc, kind: b.desc.digest === parsed.manifest.config.digest ? ('config' as const) : ('layer' as const), ...(b.data ? { data: b.data } : {}) })),
      {
        root: opts.root,
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      },
    );
    const digest = await client.pushManifest(ref.repository, ref.tag ?? sha256Digest(artifact.manifest), artifact.manifest, parsed.mediaType);
    return { name: formatReference(ref), digest, size: artifact.manifest.length };
  } finally {
    client.close();
  }
}

export interface RemoteArtifact {
  /** The manifest as fetched (digest and size verified, media type checked). */
  descriptor: Descriptor;
  manifest: Manifest;
  bytes: Buffer;
  client: RegistryClient;
  repository: string;
  /** A small blob in memory, verified; refused above `limit` bytes (default 64 MiB). */
  readBlob(desc: Descriptor, limit?: number): Promise<Buffer>;
  /** A verified stream of a blob. */
  fetchBlob(desc: Descriptor): Readable;
  /** Download blobs into the content store (skipping those it has), verified, several at a time. */
  fetchInto(content: ContentStore, descs: Descriptor[], onEvent?: (e: TransferEvent) => void): Promise<void>;
  close(): void;
}

/** Resolve an artifact manifest by tag or digest. Throws REGISTRY_NOT_FOUND when the reference does not exist. */
export async function openArtifact(reference: string, opts: RegistryClientOptions): Promise<RemoteArtifact> {
  const ref = parseRegistryReference(reference);
  const client = await createRegistryClient(ref.registry, opts);
  try {
    const doc = await client.fetchManifest(ref.repository, ref.digest ?? ref.tag!, ref.digest ? { digest: ref.digest } : undefined);
    if (doc.kind !== 'manifest') throw new RegistryError('REGISTRY_BAD_MANIFEST', `${formatReference(ref)} is an index, not an artifact manifest`);
    return {
      descriptor: doc.descriptor,
      manifest: doc.manifest,
      bytes: doc.bytes,
      client,
      repository: ref.repository,
      readBlob: (desc, limit) => client.fetchBlobBuffer(ref.repository, desc, limit),
      fetchBlob: (desc) => client.fetchBlob(ref.repository, desc),
      fetchInto: async (content, descs, onEvent) => {
        await fetchBlobsInto(client, ref.repository, content, descs.map((desc) => ({ desc, kind: 'layer' as const })), onEvent ? { onEvent } : {});
      },
      close: () => client.close(),
    };
  } catch (err) {
    client.close();
    throw err;
  }
}
