import PQueue from 'p-queue';
import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import { MAX_CONFIG_BYTES } from '../image/manifest.js';
import type { Descriptor, Platform } from '../image/types.js';
import { createRegistryClient, type RegistryClient } from './client.js';
import { hasCode } from '../diagnostics/errors.js';
import { RegistryError } from './errors.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectManifest } from './platform.js';
import { formatReference, parseRegistryReference } from './reference.js';
import { recordBlobSource } from './sources.js';
import { openStores } from './stores.js';
import { createLease } from '../store/leases.js';
import type { PullOptions, PullResult, TransferEvent } from './types.js';

/**
 * Download blobs into the content store, verified (size and digest) while streaming, several at
 * a time. Blobs already in the store are not fetched. On the first failure every other transfer
 * is stopped; a failed blob leaves nothing in the store.
 */
export async function fetchBlobsInto(
  client: RegistryClient,
  repository: string,
  content: ContentStore,
  blobs: Array<{ desc: Descriptor; kind: 'layer' | 'config' }>,
  opts: { concurrency?: number; onEvent?: (e: TransferEvent) => void } = {},
): Promise<{ downloaded: number }> {
  const emit = opts.onEvent ?? (() => {});
  const queue = new PQueue({ concurrency: opts.concurrency ?? 3 });
  const live = new Set<Readable>();
  let failed: unknown;
  let downloaded = 0;
  const seen = new Set<string>();
  const jobs: Array<Promise<void>> = [];
  for (const { desc, kind } of blobs) {
    if (seen.has(desc.digest)) continue;
    seen.add(desc.digest);
    if (await content.has(desc.digest)) {
      emit({ type: 'blob', digest: desc.digest, kind, status: 'exists', total: desc.size });
      continue;
    }
    emit({ type: 'blob', digest: desc.digest, kind, status: 'waiting', total: desc.size });
    jobs.push(
      queue.add(async () => {
        if (failed) return;
        let last = 0;
        // The store verifies the digest before it commits; hashing here too would double the CPU work.
        const stream = client.fetchBlob(repository, desc, {
          verifyDigest: false,
          onProgress: (n) => {
            if (n - last >= 512 * 1024 || n === desc.size) {
              last = n;
              emit({ type: 'blob', digest: desc.digest, kind, status: 'downloading', current: n, total: desc.size });
            }
          },
        });
        live.add(stream);
        let streamErr: unknown;
        stream.on('error', (e) => (streamErr ??= e));
        try {
          await content.put(stream, { digest: desc.digest, size: desc.size });
          downloaded++;
          emit({ type: 'blob', digest: desc.digest, kind, status: 'downloaded', current: desc.size, total: desc.size });
        } catch (err) {
          emit({ type: 'blob', digest: desc.digest, kind, status: 'failed', total: desc.size });
          // Report the registry's reason (truncated, too large …) rather than the store's echo of it.
          if (streamErr instanceof RegistryError) throw streamErr;
          if (hasCode(err, 'CONTENT_DIGEST_MISMATCH')) {
            throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `blob ${desc.digest}: the registry sent content with another digest; nothing was stored`, { cause: err });
          }
          if (hasCode(err, 'CONTENT_SIZE_MISMATCH')) {
            throw new RegistryError('REGISTRY_SIZE_MISMATCH', `blob ${desc.digest}: the registry sent ${desc.size === 0 ? 'data for an empty blob' : 'the wrong number of bytes'}; nothing was stored`, { cause: err });
          }
          throw err;
        } finally {
          live.delete(stream);
        }
      }).catch((err: unknown) => {
        if (!failed) {
          failed = err;
          queue.clear();
          for (const s of live) s.destroy(new RegistryError('REGISTRY_HTTP', 'cancelled: another transfer failed'));
        }
      }),
    );
  }
  await Promise.all(jobs);
  if (failed) throw failed;
  return { downloaded };
}

/**
 * `kiln pull`: resolve NAME[:TAG|@DIGEST] in its registry, pick the platform from an index,
 * download config and layers (verified), store the manifest (and index), then name the image.
 * Nothing is named until every blob it needs is in the store.
 */
export async function pullImage(reference: string, opts: PullOptions): Promise<PullResult> {
  const ref = parseRegistryReference(reference);
  const { content, images } = await openStores(opts);
  const client = await createRegistryClient(ref.registry, opts);
  const emit = opts.onEvent ?? (() => {});
  // Blobs written before the name exists are pinned against a concurrent GC.
  const lease = await createLease(opts.root);
  try {
    const top = await client.fetchManifest(ref.repository, ref.digest ?? ref.tag!, ref.digest ? { digest: ref.digest } : undefined).catch((err: unknown) => {
      if (err instanceof RegistryError && err.code === 'REGISTRY_NOT_FOUND') {
        throw new RegistryError('REGISTRY_NOT_FOUND', `manifest for ${formatReference(ref)} not found: manifest unknown`, {
          cause: err,
          hint: 'check the name and tag (the repository may also be private: "kiln login")',
        });
      }
      throw err;
    });
    let doc = top;
    let platform: Platform | undefined;
    if (top.kind === 'index') {
      platform = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform ?? hostPlatform();
      const child = selectManifest(top.index.manifests, platform);
      doc = await client.fetchManifest(ref.repository, child.digest, child);
    }
    if (doc.kind !== 'manifest') throw new RegistryError('REGISTRY_BAD_MANIFEST', 'an index entry points at another index; nested indexes are not supported');
    const manifest = doc.manifest;
    emit({ type: 'resolved', name: formatReference(ref), digest: top.descriptor.digest, ...(platform ? { platform } : {}) });
    await lease.add(top.descriptor.digest, doc.descriptor.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest));
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      throw new RegistryError('REGISTRY_TOO_LARGE', `image config of ${manifest.config.size} bytes exceeds the ${MAX_CONFIG_BYTES}-byte limit`);
    }
    const { downloaded } = await fetchBlobsInto(
      client,
      ref.repository,
      content,
      [{ desc: manifest.config, kind: 'config' }, ...manifest.layers.map((desc) => ({ desc, kind: 'layer' as const }))],
      { concurrency: opts.concurrency ?? 3, ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) },
    );
    const cfgPlatform = await checkConfig(content, manifest.config, manifest.layers.length);
    if (top.kind === 'manifest' && opts.platform !== undefined && opts.requirePlatform && cfgPlatform.os && cfgPlatform.architecture) {
      // A single-platform image pulled with an explicit --platform must be that platform.
      const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
      if (!platformMatches(want, cfgPlatform)) {
        throw new RegistryError('REGISTRY_NO_PLATFORM', `${formatReference(ref)} is a ${formatPlatform(cfgPlatform)} image, not ${formatPlatform(want)}`);
      }
    }
    await content.put(doc.bytes, { digest: doc.descriptor.digest, size: doc.descriptor.size });
    if (top !== doc) await content.put(top.bytes, { digest: top.descriptor.digest, size: top.descriptor.size });
    for (const d of [manifest.config, ...manifest.layers]) {
      await recordBlobSource(opts.root, d.digest, ref.registry, ref.repository).catch(() => {});
    }
    const name = formatReference(ref);
    const target: Descriptor = { ...doc.descriptor, ...(platform ? { platform } : {}) };
    await images.set(name, target);
    emit({ type: 'done', name, digest: top.descriptor.digest, downloaded: downloaded > 0 });
    return { name, digest: top.descriptor.digest, manifest: target, config: manifest.config, layers: manifest.layers, downloaded: downloaded > 0 };
  } finally {
    client.close();
    await lease.release().catch(() => {});
  }
}

/** The config must be a JSON object with `rootfs.diff_ids`, one per layer. */
async function checkConfig(content: ContentStore, desc: Descriptor, layerCount: number): Promise<Platform> {
  const bytes = await content.readBuffer(desc.digest);
  let cfg: { rootfs?: { type?: unknown; diff_ids?: unknown }; os?: unknown; architecture?: unknown; variant?: unknown };
  try {
    cfg = JSON.parse(bytes.toString('utf8')) as typeof cfg;
  } catch {
    throw new RegistryError('REGISTRY_BAD_MANIFEST', `image config ${desc.digest} is not JSON`);
  }
  const ids = cfg?.rootfs?.diff_ids;
  if (cfg?.rootfs?.type !== 'layers' || !Array.isArray(ids)) {
    throw new RegistryError('REGISTRY_BAD_MANIFEST', `image config ${desc.digest} has no rootfs of type "layers"`);
  }
  if (ids.length !== layerCount) {
    throw new RegistryError('REGISTRY_BAD_MANIFEST', `image config lists ${ids.length} diff_ids but the manifest has ${layerCount} layers`);
  }
  const p: Platform = { os: String(cfg.os ?? ''), architecture: String(cfg.architecture ?? '') };
  if (typeof cfg.variant === 'string') p.variant = cfg.variant;
  return p;
}
