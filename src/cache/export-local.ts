import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import type { ContentStore } from '../content/types.js';
import { MediaType, type Descriptor, type Digest, type Index } from '../image/types.js';
import { buildCacheManifest } from './cache-manifest.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { REF_NAME_ANNOTATION, blobPath } from './local-layout.js';
import type { BlobCacheRecord } from './types.js';

export type { CacheConfig } from './cache-manifest.js';

export interface ExportCacheOptions {
  dest: string;
  records: readonly BlobCacheRecord[];
  content: Pick<ContentStore, 'get' | 'path'>;
  /** index ref name; default "latest" */
  tag?: string;
}

export interface ExportCacheResult {
  manifest: Descriptor;
  records: number;
  blobsWritten: number;
  blobsSkipped: number;
  bytesWritten: number;
}

async function exists(file: string, size: number): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

/** Copy one blob from the content store into DIR unless DIR already has it (incremental export). */
async function copyBlob(content: ExportCacheOptions['content'], dest: string, desc: Descriptor): Promise<boolean> {
  const target = blobPath(dest, desc.digest);
  if (await exists(target, desc.size)) return false;
  const tmp = path.join(path.dirname(target), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    // a verified stream: a blob damaged in the store is never exported
    await pipeline(content.get(desc.digest), createWriteStream(tmp, { mode: 0o444 }));
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  return true;
}

async function writeBlob(dest: string, data: Buffer): Promise<Descriptor & { written: boolean }> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
  const target = blobPath(dest, digest);
  const written = !(await exists(target, data.length));
  if (written) await writeFileAtomic(target, data);
  return { mediaType: '', digest, size: data.length, written };
}

/**
 * Export cache records and their layer blobs to a local OCI layout. Only blobs not already in
 * DIR are written, so exporting the cache of a rebuild costs little more than the index.
 * Snapshot names are local to a root and are not exported; the importer re-creates snapshots
 * from the layers. The records' layer chains point only at blobs that are in DIR.
 */
export async function exportCacheLocal(opts: ExportCacheOptions): Promise<ExportCacheResult> {
  const dest = path.resolve(opts.dest);
  await fs.mkdir(path.join(dest, 'blobs', 'sha256'), { recursive: true });
  await writeFileAtomic(path.join(dest, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');

  const built = buildCacheManifest(opts.records);
  let blobsWritten = 0;
  let blobsSkipped = 0;
  let bytesWritten = 0;
  // a few copies at a time: enough to overlap I/O without opening hundreds of files
  const queue = [...built.layers];
  const workers = Array.from({ length: Math.min(4, queue.length) }, async () => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      if (await copyBlob(opts.content, dest, d)) {
        blobsWritten++;
        bytesWritten += d.size;
      } else blobsSkipped++;
    }
  });
  await Promise.all(workers);

  const cfg = await writeBlob(dest, built.config.bytes);
  const man = await writeBlob(dest, built.manifest.bytes);
  for (const b of [cfg, man]) {
    if (b.written) {
      blobsWritten++;
      bytesWritten += b.size;
    } else blobsSkipped++;
  }
  const manifestDesc: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: man.digest,
    size: man.size,
    annotations: { [REF_NAME_ANNOTATION]: opts.tag ?? 'latest' },
  };
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [manifestDesc] };
  await writeFileAtomic(path.join(dest, 'index.json'), `${JSON.stringify(index)}\n`);
  return { manifest: manifestDesc, records: opts.records.length, blobsWritten, blobsSkipped, bytesWritten };
}
