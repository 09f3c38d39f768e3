/**
 * `kiln load`: reads image archives without ever extracting by name:
 *   - `docker save` (old: `<id>/layer.tar` + `<id>.json` + manifest.json; new, Docker 25+: OCI layout + manifest.json)
 *   - skopeo `docker-archive:` and `oci-archive:`, and kiln's own `kiln save`.
 *
 * One pass over the tar (tar-stream): small files (JSON) are kept in memory; large files are ingested into the
 * content store as they stream by (under a lease, so GC cannot take them before the image record exists),
 * while their digest, and for gzip data the digest of the decompressed bytes, are computed. Then:
 *   - with `index.json` (OCI layout): every manifest is taken as is (its digest checked), so image IDs and
 *     manifest digests are preserved; names come from the index annotations and manifest.json RepoTags;
 *   - otherwise with `manifest.json` (docker-archive): config bytes are kept exactly, a manifest is written.
 * Every layer is checked against the config's `rootfs.diff_ids` before any name is recorded.
 * Archive entry names are only keys into that in-memory table: `../` in them cannot reach the filesystem.
 */
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { KilnError } from '../../diagnostics/errors.js';
import type { ContentStore } from '../../content/types.js';
import { Verifier } from '../../content/verifier.js';
import { createLease } from '../../store/leases.js';
import { isDigest, sha256Digest } from '../digest.js';
import { recordLayerSizes } from '../layer-size.js';
import { isIndexType, jsonBytes, parseImageConfig, parseManifestOrIndex } from '../manifest.js';
import { parseReference } from '../reference.js';
import type { ImageStore } from '../store.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type Manifest } from '../types.js';

const SMALL = 1 << 20;
const MAX_SMALL_TOTAL = 256 << 20;
const MAX_ENTRIES = 1_000_000;
/** Uncompressed bytes of one layer, as src/diff's TarLimits.maxTotalSize. */
const MAX_LAYER_BYTES = 64 * 1024 ** 3;

interface FileInfo {
  name: string;
  size: number;
  digest: Digest;
  compression: 'gzip' | 'zstd' | 'none';
  /** sha256 of the uncompressed bytes (= digest when not compressed); undefined for zstd. */
  diffID?: Digest;
  uncompressedSize?: number;
  data?: Buffer;
}

function loadError(msg: string, hint?: string): KilnError {
  return new KilnError('IMAGE_LOAD_INVALID', msg, hint ? { hint } : {});
}

function norm(name: string): string {
  const n = path.posix.normalize(`/${name}`).slice(1);
  return n.endsWith('/') ? n.slice(0, -1) : n;
}

function compressionOf(head: Buffer): FileInfo['compression'] {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** sha256 and size of the gunzipped bytes, streaming; undefined when the data is not valid gzip. */
async function inflatedDigest(data: Buffer): Promise<{ digest: Digest; size: number } | undefined> {
  const v = new Verifier();
  const gunzip = createGunzip();
  gunzip.end(data);
  try {
    for await (const c of gunzip) {
      v.update(c as Buffer);
      if (v.size > MAX_LAYER_BYTES) throw new KilnError('LAYER_TOO_LARGE', `a blob inflates to more than ${MAX_LAYER_BYTES} bytes`);
    }
    return { digest: await v.finish(), size: v.size };
  } catch (err) {
    if (err instanceof KilnError) throw err;
    return undefined; // not really gzip: a layer referencing it fails its diff_id check
  }
}

async function consumeEntry(content: ContentStore, name: string, size: number, body: Readable): Promise<FileInfo> {
  if (size <= SMALL) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    const data = Buffer.concat(parts);
    const digest = sha256Digest(data);
    const compression = compressionOf(data);
    const info: FileInfo = { name, size: data.length, digest, compression, data };
    if (compression === 'none') {
      info.diffID = digest;
      info.uncompressedSize = data.length;
    } else if (compression === 'gzip') {
      // streamed, never inflated into one buffer: a small gzip may expand to gigabytes
      const r = await inflatedDigest(data);
      if (r) {
        info.diffID = r.digest;
        info.uncompressedSize = r.size;
      }
    }
    return info;
  }
  // large: stream into the content store, hashing decompressed bytes on the side
  const toStore = new PassThrough();
  let compression: FileInfo['compression'] | undefined;
  const diff = new Verifier();
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let gunzipDone: Promise<void> = Promise.resolve();
  let gunzipFailed = false;
  let waits = 0;
  let gunzipWaiting = false;
  const resume = () => {
    if (--waits === 0) body.resume();
  };
  body.on('data', (c: Buffer) => {
    if (compression === undefined) {
      compression = compressionOf(c);
      if (compression === 'gzip') {
        gunzip = createGunzip();
        gunzip.on('data', (d: Buffer) => {
          diff.update(d);
          if (diff.size > MAX_LAYER_BYTES) {
            body.destroy(new KilnError('LAYER_TOO_LARGE', `${name} inflates to more than ${MAX_LAYER_BYTES} bytes`));
          }
        });
        gunzipDone = new Promise<void>((resolve) => {
          gunzip!.on('end', () => resolve());
          gunzip!.on('error', () => {
            gunzipFailed = true;
            // a failed inflater never drains: stop waiting for it (the layer then fails its diff_id check)
            if (gunzipWaiting) {
              gunzipWaiting = false;
              resume();
            }
            resolve();
          });
        });
      }
    }
    // respect the backpressure of both consumers: the store writer and the decompressing hasher
    if (gunzip && !gunzipFailed && !gunzip.write(c) && !gunzipWaiting) {
      waits++;
      gunzipWaiting = true;
      gunzip.once('drain', () => {
        if (!gunzipWaiting) return;
        gunzipWaiting = false;
        resume();
      });
    }
    if (!toStore.write(c)) {
      waits++;
      toStore.once('drain', resume);
    }
    if (waits > 0) body.pause();
  });
  body.on('end', () => {
    toStore.end();
    gunzip?.end();
  });
  body.on('error', (e) => toStore.destroy(e));
  const put = await content.put(toStore, { size });
  await gunzipDone;
  const info: FileInfo = { name, size: put.size, digest: put.digest, compression: compression ?? 'none' };
  if (info.compression === 'none') {
    info.diffID = put.digest;
    info.uncompressedSize = put.size;
  } else if (info.compression === 'gzip' && !gunzipFailed) {
    info.diffID = await diff.finish();
    info.uncompressedSize = diff.size;
  }
  return info;
}

interface Scan {
  files: Map<string, FileInfo>;
  links: Map<string, string>;
}

async function scanArchive(content: ContentStore, input: Readable, onBlob: (d: Digest) => Promise<void>): Promise<Scan> {
  const files = new Map<string, FileInfo>();
  const links = new Map<string, string>();
  const extract = tar.extract();
  let smallTotal = 0;
  let count = 0;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      body.on('error', () => {});
      count++;
      if (count > MAX_ENTRIES) {
        extract.destroy(loadError(`archive has more than ${MAX_ENTRIES} entries`));
        return;
      }
      const name = norm(header.name);
      const type = header.type ?? 'file';
      if (type === 'symlink' || type === 'link') {
        const target = type === 'symlink' ? norm(path.posix.join(path.posix.dirname(name), header.linkname ?? '')) : norm(header.linkname ?? '');
        links.set(name, target);
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        body.resume();
        body.on('end', () => next());
        return;
      }
      const size = header.size ?? 0;
      // tar-stream entry bodies are streamx Readables: same data/pause/resume/async-iterator surface
      consumeEntry(content, name, size, body as unknown as Readable).then(
        async (info) => {
          if (info.data) {
            smallTotal += info.size;
            if (smallTotal > MAX_SMALL_TOTAL) throw loadError('archive has too many small files');
          } else {
            await onBlob(info.digest);
          }
          files.set(name, info);
          next();
        },
        (err: unknown) => extract.destroy(err as Error),
      ).catch((err: unknown) => extract.destroy(err as Error));
    });
    extract.on('finish', () => resolve());
    extract.on('error', (err: Error) =>
      reject(err instanceof KilnError ? err : loadError(`not a valid image archive: ${err.message}`)),
    );
  });
  input.on('data', (c: Buffer) => {
    if (!extract.write(c)) {
      input.pause();
      extract.once('drain', () => input.resume());
    }
  });
  input.on('end', () => (extract as unknown as { end(): void }).end());
  input.on('error', (e) => extract.destroy(e));
  await done;
  return { files, links };
}

function lookup(scan: Scan, name: string): FileInfo | undefined {
  let n = norm(name);
  for (let i = 0; i < 16; i++) {
    const f = scan.files.get(n);
    if (f) return f;
    const l = scan.links.get(n);
    if (l === undefined) return undefined;
    n = l;
  }
  return undefined;
}

function jsonFile<T>(scan: Scan, name: string): T | undefined {
  const f = lookup(scan, name);
  if (!f) return undefined;
  if (!f.data) throw loadError(`${name} is too large (${f.size} bytes)`);
  try {
    return JSON.parse(f.data.toString('utf8')) as T;
  } catch (err) {
    throw loadError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

async function storeFile(content: ContentStore, f: FileInfo): Promise<void> {
  if (f.data) await content.put(f.data, { digest: f.digest, size: f.size });
}

function layerMediaType(f: FileInfo, docker: boolean): string {
  if (f.compression === 'gzip') return docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  if (f.compression === 'zstd') return MediaType.OciLayerZstd;
  return docker ? MediaType.DockerLayer : MediaType.OciLayer;
}

function checkLayers(config: ImageConfig, layers: FileInfo[], what: string): void {
  const ids = config.rootfs.diff_ids;
  if (ids.length !== layers.length) {
    throw new KilnError('IMAGE_LOAD_DIFFID_MISMATCH', `${what}: config lists ${ids.length} diff_ids but the image has ${layers.length} layers`);
  }
  layers.forEach((l, i) => {
    if (l.compression === 'zstd') {
      throw new KilnError('IMAGE_LOAD_UNSUPPORTED', `${what}: layer ${l.name} is zstd-compressed, which kiln cannot verify yet`);
    }
    if (l.diffID !== ids[i]) {
      throw new KilnError(
        'IMAGE_LOAD_DIFFID_MISMATCH',
        `${what}: layer ${i + 1} (${l.name}) has diff_id ${l.diffID ?? 'unreadable'}, the config says ${ids[i]}`,
        { hint: 'the archive is damaged or was tampered with; nothing was loaded for this image' },
      );
    }
  });
}

export interface LoadedImage {
  id: Digest;
  descriptor: Descriptor;
  names: string[];
  /** Names that pointed at another image before (docker: "renaming the old one ... to empty string"). */
  replaced?: Array<{ name: string; oldId: Digest }>;
}

function validName(n: string): string | undefined {
  try {
    const ref = parseReference(n);
    return ref.digest ? undefined : ref.toString();
  } catch {
    return undefined;
  }
}

/** Load every image of an archive; returns what was loaded (names fully qualified). */
export async function loadArchive(images: ImageStore, input: Readable): Promise<LoadedImage[]> {
  const content = images.content;
  const lease = await createLease(images.root);
  try {
    const scan = await scanArchive(content, input, (d) => lease.add(d));
    const dockerManifest = jsonFile<Array<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }>>(scan, 'manifest.json');
    const index = lookup(scan, 'index.json');
    const results: LoadedImage[] = [];
    const sizes: Record<string, number> = {};

    // names from manifest.json, by config digest (for the OCI path)
    const tagsByConfig = new Map<string, string[]>();
    if (dockerManifest !== undefined && !Array.isArray(dockerManifest)) throw loadError('manifest.json is not a list');
    for (const e of dockerManifest ?? []) {
      const cfg = e.Config ? lookup(scan, e.Config) : undefined;
      if (cfg) tagsByConfig.set(cfg.digest, (e.RepoTags ?? []).filter((t) => typeof t === 'string'));
    }

    if (index && lookup(scan, 'oci-layout')) {
      const idx = parseManifestOrIndex(index.data ?? Buffer.alloc(0), MediaType.OciIndex);
      if (idx.kind !== 'index') throw loadError('index.json is not an image index');
      const seen = new Map<string, LoadedImage>();
      const loadManifest = async (desc: Descriptor, depth: number): Promise<LoadedImage | undefined> => {
        const f = lookup(scan, `blobs/sha256/${desc.digest.slice(7)}`);
        if (!f) return undefined;
        if (f.digest !== desc.digest || f.size !== desc.size) {
          throw new KilnError('CONTENT_DIGEST_MISMATCH', `blob ${desc.digest} in the archive does not match its descriptor`);
        }
        if (!f.data) throw loadError(`manifest ${desc.digest} is too large`);
        const parsed = parseManifestOrIndex(f.data, desc.mediaType);
        if (parsed.kind === 'index') {
          if (depth > 4) throw loadError('indexes nested too deeply');
          let any: LoadedImage | undefined;
          for (const m of parsed.index.manifests) {
            if (!isDigest(m.digest)) continue;
            const r = await loadManifest(m, depth + 1).catch((err: unknown) => {
              throw err;
            });
            any ??= r;
          }
          if (!any) return undefined;
          await storeFile(content, f);
          return { id: any.id, descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, names: [] };
        }
        const m = parsed.manifest;
        const cf = lookup(scan, `blobs/sha256/${m.config.digest.slice(7)}`);
        if (!cf || cf.digest !== m.config.digest || !cf.data) throw loadError(`config ${m.config.digest} of manifest ${desc.digest} is missing or wrong`);
        const config = parseImageConfig(cf.data);
        const layers: FileInfo[] = [];
        for (const l of m.layers) {
          const lf = lookup(scan, `blobs/sha256/${l.digest.slice(7)}`);
          if (!lf) throw loadError(`layer ${l.digest} of manifest ${desc.digest} is missing from the archive`);
          if (lf.digest !== l.digest || lf.size !== l.size) throw new KilnError('CONTENT_DIGEST_MISMATCH', `layer ${l.digest} in the archive does not match its descriptor`);
          layers.push(lf);
        }
        checkLayers(config, layers, `manifest ${desc.digest}`);
        for (const lf of layers) {
          await storeFile(content, lf);
          if (lf.uncompressedSize !== undefined && lf.diffID) sizes[lf.diffID] = lf.uncompressedSize;
        }
        await storeFile(content, cf);
        await storeFile(content, f);
        return { id: m.config.digest, descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, names: [] };
      };
      for (const d of idx.index.manifests) {
        const loaded = seen.get(d.digest) ?? (await loadManifest(d, 0));
        if (!loaded) throw loadError(`manifest ${d.digest} listed in index.json is missing from the archive`);
        if (!seen.has(d.digest)) {
          seen.set(d.digest, loaded);
          results.push(loaded);
        }
        const ann = d.annotations ?? {};
        const candidates = [ann['io.containerd.image.name'], ann['org.opencontainers.image.ref.name']];
        for (const c of candidates) {
          const n = c ? validName(c) : undefined;
          // a bare tag ("latest") in ref.name is not a name: only accept it when it has a repository part
          if (n && c && (c.includes('/') || c.includes(':') || c === ann['io.containerd.image.name'])) {
            if (!loaded.names.includes(n)) loaded.names.push(n);
            break;
          }
        }
        for (const t of tagsByConfig.get(loaded.id) ?? []) {
          const n = validName(t);
          if (n && !loaded.names.includes(n)) loaded.names.push(n);
        }
      }
    } else if (dockerManifest) {
      for (const [i, e] of dockerManifest.entries()) {
        const what = `manifest.json entry ${i + 1}`;
        if (typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw loadError(`${what} has no Config or Layers`);
        const cf = lookup(scan, e.Config);
        if (!cf?.data) throw loadError(`${what}: config ${e.Config} is missing from the archive`);
        const config = parseImageConfig(cf.data);
        const layers: FileInfo[] = [];
        for (const lp of e.Layers) {
          const lf = typeof lp === 'string' ? lookup(scan, lp) : undefined;
          if (!lf) throw loadError(`${what}: layer ${String(lp)} is missing from the archive`);
          layers.push(lf);
        }
        checkLayers(config, layers, what);
        for (const lf of layers) {
          await storeFile(content, lf);
          if (lf.uncompressedSize !== undefined && lf.diffID) sizes[lf.diffID] = lf.uncompressedSize;
        }
        await storeFile(content, cf);
        const manifest: Manifest = {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, digest: cf.digest, size: cf.size },
          layers: layers.map((l) => ({ mediaType: layerMediaType(l, false), digest: l.digest, size: l.size })),
        };
        const mi = await content.put(jsonBytes(manifest));
        const loaded: LoadedImage = { id: cf.digest, descriptor: { mediaType: MediaType.OciManifest, digest: mi.digest, size: mi.size }, names: [] };
        for (const t of e.RepoTags ?? []) {
          const n = typeof t === 'string' ? validName(t) : undefined;
          if (!n) throw loadError(`${what}: invalid tag ${JSON.stringify(t)}`);
          loaded.names.push(n);
        }
        results.push(loaded);
      }
    } else {
      throw loadError('not an image archive: no manifest.json or index.json + oci-layout', 'kiln load reads archives written by docker save, skopeo (docker-archive:, oci-archive:) and kiln save');
    }
    if (results.length === 0) throw loadError('the archive contains no image');
    await recordLayerSizes(images.root, sizes).catch(() => {});
    for (const r of results) {
      if (r.names.length === 0) await images.addDangling(r.descriptor);
      for (const n of r.names) {
        const old = await images.get(n);
        if (old && old.target.digest !== r.descriptor.digest) {
          const oldId = await images.imageId(old.target).catch(() => old.target.digest);
          if (oldId !== r.id) (r.replaced ??= []).push({ name: n, oldId });
        }
        await images.setName(n, r.descriptor);
      }
    }
    return results;
  } finally {
    await lease.release();
  }
}

/** For index targets the image ID shown is the platform manifest's config; callers resolve it. */
export function isIndexDescriptor(d: Descriptor): boolean {
  return isIndexType(d.mediaType);
}
