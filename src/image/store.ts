/**
 * The image store: names -> manifest (or index) descriptors, kept in `<root>/meta/images.json`.
 * Manifests, configs and layers are blobs in the content store.
 *
 * - Names are fully qualified references (`docker.io/library/bb:latest`, `localhost:5000/x@sha256:…`).
 * - An image that lost its last name by a tag moving away stays as a *dangling* record keyed by its manifest
 *   digest (`docker images` shows it as `<none>:<none>`); `kiln system prune` removes those.
 * - The image ID is the config digest (as `docker images` shows it); short ID prefixes resolve like docker.
 * - Every read-modify-write of images.json holds `meta/images.lock` (works across processes) and writes
 *   the file atomically (temp + fsync + rename + dir fsync).
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { InvalidArgumentError, KilnError, NotFoundError } from '../diagnostics/errors.js';
import type { ContentStore } from '../content/types.js';
import { readJsonFile, writeSmallFileAtomic, cleanAtomicTemps } from '../util/atomic-file.js';
import { withLock } from '../util/lock-file.js';
import { isDigest, parseDigest, shortId } from './digest.js';
import {
  isIndexType,
  isManifestType,
  jsonBytes,
  parseImageConfig,
  parseManifestOrIndex,
  selectManifest,
} from './manifest.js';
import { recordLayerSizes } from './layer-size.js';
import { parseReference, type Reference } from './reference.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, type Platform } from './types.js';

export interface ImageRecord {
  /** A fully qualified reference, or for a dangling image its manifest digest. */
  name: string;
  target: Descriptor;
  createdAt: string;
  updatedAt: string;
}

interface ImagesFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

export interface ResolvedImage {
  /** The image ID: the config digest. */
  id: Digest;
  /** What the record points at (a manifest, or an index). */
  target: Descriptor;
  /** The platform manifest's descriptor (same as target unless target is an index). */
  descriptor: Descriptor;
  manifest: Manifest;
  index?: Index;
  config: ImageConfig;
  /** Names (fully qualified references) that point at this target; empty when dangling. */
  names: string[];
  dangling: boolean;
}

export interface LayerInput {
  /** The layer blob, already in the content store. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  /** Bytes of the uncompressed tar, when known (saves `kiln images` from inflating the layer to size it). */
  uncompressedSize?: number;
}

export interface CreateImageOptions {
  config: ImageConfig;
  layers: LayerInput[];
  /** Names to point at the new image (e.g. `-t` of a build). */
  names?: string[];
  /** 'oci' (default) or 'docker' media types. */
  format?: 'oci' | 'docker';
  annotations?: Record<string, string>;
}

export class ImageStore {
  readonly root: string;
  readonly content: ContentStore;
  private readonly file: string;
  private readonly lockFile: string;

  private constructor(root: string, content: ContentStore) {
    this.root = root;
    this.content = content;
    this.file = path.join(root, 'meta', 'images.json');
    this.lockFile = path.join(root, 'meta', 'images.lock');
  }

  static async open(root: string, content: ContentStore): Promise<ImageStore> {
    const s = new ImageStore(path.resolve(root), content);
    await cleanAtomicTemps(path.join(s.root, 'meta'));
    return s;
  }

  private async read(): Promise<ImagesFile> {
    let f: ImagesFile | undefined;
    try {
      f = await readJsonFile<ImagesFile>(this.file);
    } catch (err) {
      throw new KilnError('IMAGE_STORE_CORRUPT', `${this.file} cannot be read: ${(err as Error).message}`, {
        cause: err,
        hint: 'kiln writes this file atomically; was it edited by hand? restore it or remove it (the images are then forgotten, their blobs stay until "kiln system prune")',
      });
    }
    if (!f) return { version: 1, images: {} };
    if (f.version !== 1 || typeof f.images !== 'object') {
      throw new KilnError('IMAGE_STORE_CORRUPT', `${this.file}: unknown format`);
    }
    return f;
  }

  private async update<T>(fn: (f: ImagesFile) => T | Promise<T>): Promise<T> {
    mkdirSync(path.dirname(this.file), { recursive: true });
    return withLock(this.lockFile, async () => {
      const f = await this.read();
      const result = await fn(f);
      // durable like writeJsonAtomic, in two thread-pool round trips instead of nine (every build ends here)
      await writeSmallFileAtomic(this.file, `${JSON.stringify(f, null, 2)}\n`);
      return result;
    });
  }

  /** All records, sorted by name (dangling ones last). */
  async list(): Promise<ImageRecord[]> {
    const f = await this.read();
    return Object.values(f.images).sort((a, b) => {
      const da = isDigest(a.name) ? 1 : 0;
      const db = isDigest(b.name) ? 1 : 0;
      return da - db || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0); // code-point order (localeCompare's ICU set-up costs ~8 ms)
    });
  }

  /** The record of one name, if any. */
  async get(name: string): Promise<ImageRecord | undefined> {
    const key = parseReference(name).toString();
    return (await this.read()).images[key];
  }

  /**
   * Point `name` at `target`. The image it pointed at before becomes dangling if nothing else names it.
   */
  async setName(name: string | Reference, target: Descriptor): Promise<void> {
    const key = (typeof name === 'string' ? parseReference(name) : name).toString();
    const desc = cleanDescriptor(target);
    await this.update((f) => setRecord(f, key, desc));
  }

  /** Keep an unnamed image (e.g. `kiln import` without a name, `kiln load` of an untagged image). */
  async addDangling(target: Descriptor): Promise<void> {
    const desc = cleanDescriptor(target);
    await this.update((f) => {
      if (Object.values(f.images).some((r) => r.target.digest === desc.digest)) return;
      const now = new Date().toISOString();
      f.images[desc.digest] = { name: desc.digest, target: desc, createdAt: now, updatedAt: now };
    });
  }

  /** `docker tag SRC DST`. */
  async tag(source: string, dest: string): Promise<void> {
    const img = await this.resolve(source);
    await this.setName(dest, img.target);
  }

  /** Remove one name. Returns the record removed, or undefined. Leaves no dangling record. */
  async untag(name: string): Promise<ImageRecord | undefined> {
    const key = parseReference(name).toString();
    return this.update((f) => {
      const rec = f.images[key];
      delete f.images[key];
      return rec;
    });
  }

  /** Remove every record (names and dangling) pointing at a target digest. Returns the names removed. */
  async removeTarget(digest: Digest): Promise<string[]> {
    return this.update((f) => {
      const removed: string[] = [];
      for (const [k, r] of Object.entries(f.images)) {
        if (r.target.digest === digest) {
          delete f.images[k];
          removed.push(k);
        }
      }
      return removed;
    });
  }

  /** Remove records by exact key (names or dangling digests). */
  async removeRecords(keys: string[]): Promise<void> {
    await this.update((f) => {
      for (const k of keys) delete f.images[k];
    });
  }

  /**
   * Find an image by name, full/short image ID (config digest), or manifest digest, like docker does.
   * Throws NotFoundError (IMAGE_NOT_FOUND) or InvalidArgumentError (IMAGE_AMBIGUOUS).
   */
  async resolve(nameOrId: string, platform?: Platform): Promise<ResolvedImage> {
    const records = await this.list();
    const rec = await this.findRecord(nameOrId, records);
    return this.load(rec.target, records, platform);
  }

  /** Alias of resolve, the name other stages use. */
  getImage(nameOrId: string, platform?: Platform): Promise<ResolvedImage> {
    return this.resolve(nameOrId, platform);
  }

  /** Like resolve, and tells whether `q` named the image (a reference) or identified it (an ID). */
  async find(q: string): Promise<{ record: ImageRecord; by: 'id' | 'name' }> {
    const records = await this.list();
    const record = await this.findRecord(q, records);
    return { record, by: record.name === safeRefString(q) ? 'name' : 'id' };
  }

  private async findRecord(q: string, records: ImageRecord[]): Promise<ImageRecord> {
    const notFound = () =>
      new NotFoundError(`No such image: ${q}`, {
        code: 'IMAGE_NOT_FOUND',
        hint: 'run "kiln images" to list local images',
      });
    // Docker's order: a full ID, then a name, then an unambiguous short ID prefix.
    const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(q)?.[1];
    const prefix = full ?? /^sha256:([a-f0-9]{1,64})$/.exec(q)?.[1] ?? (/^[a-f0-9]{1,63}$/.test(q) ? q : undefined);
    if (full === undefined && !q.startsWith('sha256:')) {
      const ref = parseReference(q);
      const byName = records.find((r) => r.name === ref.toString());
      if (byName) return byName;
      if (ref.digest) {
        // name@digest: a record of that repository with that manifest digest (docker accepts it)
        const byDigest = records.find(
          (r) => r.target.digest === ref.digest && !isDigest(r.name) && parseReference(r.name).name === ref.name,
        );
        if (byDigest) return byDigest;
      }
    }
    if (prefix !== undefined) {
      const matches = new Map<string, ImageRecord>();
      for (const r of records) {
        if (full !== undefined && r.target.digest === `sha256:${full}`) matches.set(r.target.digest, r);
        const id = await this.imageId(r.target).catch(() => undefined);
        if (id && id.slice(7).startsWith(prefix) && !matches.has(r.target.digest)) matches.set(r.target.digest, r);
      }
      const ids = new Set<string>();
      for (const r of matches.values()) ids.add((await this.imageId(r.target).catch(() => r.target.digest)) as string);
      if (ids.size > 1) {
        throw new InvalidArgumentError(`image ID prefix "${q}" is ambiguous: it matches ${ids.size} images`, {
          code: 'IMAGE_AMBIGUOUS',
          hint: 'use more digits of the ID',
        });
      }
      // prefer a named record of the image over its dangling record
      const list = [...matches.values()];
      const named = list.find((r) => !isDigest(r.name));
      if (named ?? list[0]) return (named ?? list[0])!;
    }
    throw notFound();
  }

  /** The config digest for a record target (reads the manifest; index -> host platform manifest). */
  async imageId(target: Descriptor): Promise<Digest> {
    const { manifest } = await this.readTarget(target);
    return manifest.config.digest;
  }

  private async readTarget(target: Descriptor, platform?: Platform): Promise<{ manifest: Manifest; descriptor: Descriptor; index?: Index }> {
    const parsed = parseManifestOrIndex(await this.content.readBuffer(target.digest), target.mediaType);
    if (parsed.kind === 'manifest') return { manifest: parsed.manifest, descriptor: target };
    // the platform's manifest, or (a partial index, as docker save of one platform writes) any present one
    const preferred = selectManifest(parsed.index, platform);
    let chosen: Descriptor | undefined;
    for (const c of [preferred, ...parsed.index.manifests.filter((m) => m !== preferred && isManifestType(m.mediaType))]) {
      if (c && (await this.content.has(c.digest))) {
        chosen = c;
        break;
      }
    }
    if (!chosen) throw new KilnError('IMAGE_NO_MANIFEST', `index ${target.digest} has no image manifest in the store`);
    const sub = parseManifestOrIndex(await this.content.readBuffer(chosen.digest), chosen.mediaType);
    if (sub.kind !== 'manifest') throw new KilnError('IMAGE_NESTED_INDEX', `nested index ${chosen.digest} is not supported`);
    return { manifest: sub.manifest, descriptor: chosen, index: parsed.index };
  }

  private async load(target: Descriptor, records: ImageRecord[], platform?: Platform): Promise<ResolvedImage> {
    const { manifest, descriptor, index } = await this.readTarget(target, platform);
    const config = parseImageConfig(await this.content.readBuffer(manifest.config.digest));
    const names = records.filter((r) => r.target.digest === target.digest && !isDigest(r.name)).map((r) => r.name);
    const out: ResolvedImage = {
      id: manifest.config.digest,
      target: cleanDescriptor(target),
      descriptor,
      manifest,
      config,
      names,
      dangling: names.length === 0,
    };
    if (index) out.index = index;
    return out;
  }

  /** Load an image by its record target (no name lookup). */
  async loadTarget(target: Descriptor, platform?: Platform): Promise<ResolvedImage> {
    return this.load(target, await this.list(), platform);
  }

  /**
   * Write the config and an OCI manifest for layers already in the content store; returns the manifest
   * descriptor. `config.rootfs.diff_ids` is set from `layers`. Names, if given, are pointed at it.
   */
  async createImage(options: CreateImageOptions): Promise<Descriptor> {
    const docker = options.format === 'docker';
    for (const l of options.layers) {
      parseDigest(l.diffID);
      if (!(await this.content.has(l.descriptor.digest))) {
        throw new NotFoundError(`layer blob ${l.descriptor.digest} is not in the content store`, {
          code: 'IMAGE_LAYER_MISSING',
        });
      }
    }
    const config: ImageConfig = {
      ...options.config,
      rootfs: { type: 'layers', diff_ids: options.layers.map((l) => l.diffID) },
    };
    const configBytes = jsonBytes(config);
    const configInfo = await this.content.put(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: configInfo.digest, size: configInfo.size },
      layers: options.layers.map((l) => cleanDescriptor(l.descriptor)),
    };
    if (options.annotations && Object.keys(options.annotations).length > 0) manifest.annotations = options.annotations;
    const sizes: Record<string, number> = {};
    for (const l of options.layers) if (typeof l.uncompressedSize === 'number') sizes[l.diffID] = l.uncompressedSize;
    await recordLayerSizes(this.root, sizes).catch(() => {});
    const mInfo = await this.content.put(jsonBytes(manifest));
    const desc: Descriptor = { mediaType: manifest.mediaType!, digest: mInfo.digest, size: mInfo.size };
    for (const n of options.names ?? []) await this.setName(n, desc);
    return desc;
  }

  /** Sum of the blob sizes of an image (manifest, config, layers) as stored. */
  async size(img: ResolvedImage): Promise<number> {
    return img.manifest.layers.reduce((n, l) => n + l.size, 0) + img.manifest.config.size;
  }

  /** Records whose target is an index: kept for listing. */
  static isIndex(r: ImageRecord): boolean {
    return isIndexType(r.target.mediaType);
  }

  /** Short image ID for display. */
  static shortId(id: Digest): string {
    return shortId(id);
  }
}

function safeRefString(q: string): string | undefined {
  try {
    return parseReference(q).toString();
  } catch {
    return undefined;
  }
}

function cleanDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: parseDigest(d.digest), size: d.size };
  if (d.annotations) out.annotations = d.annotations;
  if (d.platform) out.platform = d.platform;
  if (d.urls) out.urls = d.urls;
  return out;
}

function setRecord(f: ImagesFile, key: string, desc: Descriptor): void {
  const now = new Date().toISOString();
  const prev = f.images[key];
  if (prev && prev.target.digest === desc.digest) {
    prev.updatedAt = now;
    return;
  }
  f.images[key] = { name: key, target: desc, createdAt: prev?.createdAt ?? now, updatedAt: now };
  // the new target is no longer dangling
  delete f.images[desc.digest];
  if (prev) {
    const stillNamed = Object.values(f.images).some((r) => r.target.digest === prev.target.digest);
    if (!stillNamed) f.images[prev.target.digest] = { name: prev.target.digest, target: prev.target, createdAt: prev.createdAt, updatedAt: now };
  }
}
