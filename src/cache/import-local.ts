import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, KilnError, NotFoundError } from '../diagnostics/errors.js';
import { isDigest } from '../image/digest.js';
import type { Descriptor, Digest, Index, Manifest } from '../image/types.js';
import type { CacheConfig } from './export-local.js';
import { CACHE_CONFIG_MEDIA_TYPE, MAX_CACHE_JSON_BYTES, REF_NAME_ANNOTATION, blobPath } from './local-layout.js';
import type { CacheKey, CacheRecord, CacheStore, LayerRef } from './types.js';

const KEY_RE = /^sha256:[0-9a-f]{64}$/;

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

function validLayer(l: unknown): l is LayerRef {
  const x = l as LayerRef;
  return (
    typeof x === 'object' && x !== null && typeof x.descriptor === 'object' && x.descriptor !== null &&
    isDigest(x.descriptor.digest) && Number.isSafeInteger(x.descriptor.size) && x.descriptor.size >= 0 &&
    typeof x.descriptor.mediaType === 'string' && isDigest(x.diffID)
  );
}

function validRecord(r: unknown): r is CacheRecord {
  const x = r as CacheRecord;
  return (
    typeof x === 'object' && x !== null && typeof x.key === 'string' && KEY_RE.test(x.key) &&
    typeof x.result === 'object' && x.result !== null && Array.isArray(x.result.layers) && x.result.layers.every(validLayer) &&
    Array.isArray(x.inputs) && x.inputs.every((k) => typeof k === 'string') &&
    typeof x.vertex === 'object' && x.vertex !== null && typeof x.vertex.name === 'string'
  );
}

/**
 * A `--cache-from type=local,src=DIR` source: read-only cache records whose layers are blobs in
 * DIR. Records come back with `snapshot: null`; the build re-creates the snapshot from the
 * layers (reading them through `blob`, verified by the content store on ingest).
 * Everything in DIR is untrusted: digests are checked before they become paths, records that do
 * not validate are skipped, and a record whose blobs are missing is not offered.
 */
export class LocalCacheImport implements CacheStore {
  private constructor(
    readonly src: string,
    private readonly records: Map<CacheKey, CacheRecord>,
  ) {}

  static async open(src: string, opts: { tag?: string } = {}): Promise<LocalCacheImport> {
    const dir = path.resolve(src);
    const index = await readJsonLimited<Index>(path.join(dir, 'index.json'), src);
    if (!index || !Array.isArray(index.manifests)) throw bad(src, 'index.json has no manifests');
    const tag = opts.tag ?? 'latest';
    const desc =
      index.manifests.find((m) => m?.annotations?.[REF_NAME_ANNOTATION] === tag) ?? (opts.tag ? undefined : index.manifests[0]);
    if (!desc || !isDigest(desc.digest)) throw bad(src, `no cache manifest${opts.tag ? ` tagged "${tag}"` : ''}`);
    const manifest = await readJsonLimited<Manifest>(blobPath(dir, desc.digest), src);
    if (!manifest?.config || manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE || !isDigest(manifest.config.digest)) {
      throw bad(src, 'the manifest is not a kiln cache manifest');
    }
    const config = await readJsonLimited<CacheConfig>(blobPath(dir, manifest.config.digest), src);
    const records = new Map<CacheKey, CacheRecord>();
    const present = new Map<string, boolean>();
    const have = async (d: Descriptor): Promise<boolean> => {
      let ok = present.get(d.digest);
      if (ok === undefined) {
        ok = await fs.stat(blobPath(dir, d.digest)).then((s) => s.isFile() && s.size === d.size, () => false);
        present.set(d.digest, ok);
      }
      return ok;
    };
    for (const r of Array.isArray(config?.records) ? config.records : []) {
      if (!validRecord(r)) continue;
      let complete = true;
      for (const l of r.result.layers) if (!(await have(l.descriptor))) complete = false;
      if (!complete) continue;
      records.set(r.key, { ...r, result: { ...r.result, snapshot: null } });
    }
    return new LocalCacheImport(dir, records);
  }

  get size(): number {
    return this.records.size;
  }

  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    const r = this.records.get(key);
    return r ? structuredClone(r) : undefined;
  }

  async put(): Promise<void> {
    throw new KilnError('CACHE_READ_ONLY', `--cache-from ${this.src} is read-only`);
  }
  async delete(): Promise<void> {
    throw new KilnError('CACHE_READ_ONLY', `--cache-from ${this.src} is read-only`);
  }
  async *list(): AsyncIterable<CacheRecord> {
    yield* [...this.records.values()];
  }

  /** A layer blob of this source (unverified bytes: ingest with the expected digest). */
  blob(digest: Digest): Readable {
    if (!isDigest(digest)) throw bad(this.src, `invalid digest ${JSON.stringify(digest)}`);
    return createReadStream(blobPath(this.src, digest));
  }
}
