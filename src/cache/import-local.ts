import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, KilnError, NotFoundError } from '../diagnostics/errors.js';
import { ReadOnlyCacheSource } from './read-only-source.js';
import { isDigest } from '../image/digest.js';
import type { Descriptor, Digest, Index } from '../image/types.js';
import { checkCacheManifest, recordsOf } from './cache-manifest.js';
import { MAX_CACHE_JSON_BYTES, REF_NAME_ANNOTATION, blobPath } from './local-layout.js';
import type { CacheKey, BlobCacheRecord } from './types.js';

function bad(src: string, what: string): KilnError {
  return new InvalidArgumentError(`--cache-from ${src}: ${what}`, { code: 'CACHE_IMPORT_INVALID' });
}
async function readJsonLimited<T>(file: string, src: string): Promise<T> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new NotFoundError(`--cache-from ${src}: ${path.relative(src, file) || file} not found`, { code: 'CACHE_IMPORT_NOT_FOUND' });
  }
  if (!st.isFile() || st.size > MAX_CACHE_JSON_BYTES) throw bad(src, `${path.basename(file)} is not a file of at most 64 MiB`);
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    throw bad(src, `${path.basename(file)} is not valid JSON`);
  }
}

/**
 * A `--cache-from type=local,src=DIR` source: read-only cache records whose layers are blobs in
 * DIR. Records come back with `snapshot: null`; the build re-creates the snapshot from the
 * layers (reading them through `blob`, verified by the content store on ingest).
 * Everything in DIR is untrusted: digests are checked before they become paths, records that do
 * not validate are skipped, and a record whose blobs are missing is not offered.
 */
export class LocalCacheImport extends ReadOnlyCacheSource {
  private constructor(
    readonly src: string,
    records: Map<CacheKey, BlobCacheRecord>,
  ) {
    super(src, records.values());
  }

  static async open(src: string, opts: { tag?: string } = {}): Promise<LocalCacheImport> {
    const dir = path.resolve(src);
    const index = await readJsonLimited<Index>(path.join(dir, 'index.json'), src);
    if (!index || !Array.isArray(index.manifests)) throw bad(src, 'index.json has no manifests');
    const tag = opts.tag ?? 'latest';
    const desc =
      index.manifests.find((m) => m?.annotations?.[REF_NAME_ANNOTATION] === tag) ?? (opts.tag ? undefined : index.manifests[0]);
    if (!desc || !isDigest(desc.digest)) throw bad(src, `no cache manifest${opts.tag ? ` tagged "${tag}"` : ''}`);
    const manifest = await readJsonLimited<unknown>(blobPath(dir, desc.digest), src);
    const cfgDesc = checkCacheManifest(manifest, src);
    const config = await readJsonLimited<unknown>(blobPath(dir, cfgDesc.digest as Digest), src);
    const records = new Map<CacheKey, BlobCacheRecord>();
    const present = new Map<string, boolean>();
    const have = async (d: Descriptor): Promise<boolean> => {
      let ok = present.get(d.digest);
      if (ok === undefined) {
        ok = await fs.stat(blobPath(dir, d.digest)).then((s) => s.isFile() && s.size === d.size, () => false);
        present.set(d.digest, ok);
      }
      return ok;
    };
    for (const r of recordsOf(config)) {
      let complete = true;
      for (const l of r.result.layers) if (!(await have(l.descriptor))) complete = false;
      if (!complete) continue;
      records.set(r.key, { ...r, result: { ...r.result, snapshot: null } });
    }
    return new LocalCacheImport(dir, records);
  }

  /** A layer blob of this source (unverified bytes: ingest with the expected digest). */
  blob(digest: Digest): Readable {
    if (!isDigest(digest)) throw bad(this.src, `invalid digest ${JSON.stringify(digest)}`);
    return createReadStream(blobPath(this.src, digest));
  }
}
