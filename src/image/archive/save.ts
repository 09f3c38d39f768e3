/**
 * `kiln save`: images -> one tar that is at once
 *   - a docker-archive (`manifest.json` + `repositories`, what `docker load` and `skopeo docker-archive:` read) and
 *   - an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`, what `skopeo oci-archive:` and umoci read),
 * sharing one copy of every blob, as Docker 25+ writes it. Blobs are streamed from the content store through
 * its verified reader, so a corrupt blob fails the save instead of being exported.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import { digestHex } from '../digest.js';
import { isDigest } from '../digest.js';
import { parseReference } from '../reference.js';
import type { ImageStore, ResolvedImage } from '../store.js';
import { MediaType, type Descriptor, type Index } from '../types.js';

export interface SaveItem {
  image: ResolvedImage;
  /** Fully qualified references to record for this image (empty: saved by ID, untagged). */
  names: string[];
}

/** Resolve what `docker save ARGS…` would save: a name keeps its tag; a bare repository keeps all its tags. */
export async function resolveSaveItems(images: ImageStore, args: string[]): Promise<SaveItem[]> {
  const byTarget = new Map<string, SaveItem>();
  for (const arg of args) {
    const { record, by } = await images.find(arg);
    const img = await images.loadTarget(record.target);
    const key = img.descriptor.digest;
    const item = byTarget.get(key) ?? { image: img, names: [] };
    if (by === 'name' && !isDigest(record.name)) {
      const ref = parseReference(record.name, { defaultTag: false });
      if (ref.tag !== undefined && !item.names.includes(record.name)) item.names.push(record.name);
    }
    byTarget.set(key, item);
  }
  return [...byTarget.values()];
}

const MTIME = new Date(0);

async function writeEntry(pack: tar.Pack, name: string, data: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: MTIME, type: 'file' }, data, (err) => (err ? reject(err) : resolve()));
  });
}

async function writeDir(pack: tar.Pack, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry({ name, type: 'directory', mode: 0o755, mtime: MTIME }, (err) => (err ? reject(err) : resolve()));
  });
}

async function writeBlob(pack: tar.Pack, images: ImageStore, d: Descriptor): Promise<void> {
  const entry = pack.entry({ name: `blobs/sha256/${digestHex(d.digest)}`, size: d.size, mode: 0o644, mtime: MTIME, type: 'file' });
  const finished = new Promise<void>((resolve, reject) => {
    entry.on('finish', () => resolve());
    entry.on('close', () => resolve());
    entry.on('error', reject);
  });
  for await (const chunk of images.content.get(d.digest)) {
    if (!entry.write(chunk as Buffer)) await once(entry, 'drain');
  }
  (entry as unknown as { end(): void }).end();
  await finished;
}

/** Write the archive to `out`; resolves when everything was written (the caller closes/renames). */
export async function saveImages(images: ImageStore, items: SaveItem[], out: Writable): Promise<void> {
  const pack = tar.pack();
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      if (out.destroyed) {
        reject(out.errored ?? new Error('the output was closed'));
        return;
      }
      const onError = (e: Error) => reject(e);
      out.once('error', onError);
      out.once('drain', () => {
        out.off('error', onError);
        resolve();
      });
    });
  const pump = (async () => {
    for await (const chunk of pack) {
      if (out.destroyed) throw out.errored ?? new Error('the output was closed');
      if (!out.write(chunk)) await drained();
    }
  })();
  let packError: unknown;
  pump.catch((e: unknown) => {
    packError = e;
    pack.destroy(e as Error); // stop the writing side too, with the output's error
  });
  try {
    await writeArchive(images, items, pack);
  } catch (err) {
    throw packError ?? err;
  }
  await pump;
  if (packError) throw packError;
}

async function writeArchive(images: ImageStore, items: SaveItem[], pack: tar.Pack): Promise<void> {

  const written = new Set<string>();
  const blob = async (d: Descriptor) => {
    if (written.has(d.digest)) return;
    written.add(d.digest);
    if (d.size !== (await images.content.stat(d.digest)).size) {
      throw new Error(`blob ${d.digest} does not have the size its descriptor says (${d.size})`);
    }
    await writeBlob(pack, images, d);
  };

  await writeDir(pack, 'blobs/');
  await writeDir(pack, 'blobs/sha256/');
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};

  for (const item of items) {
    const img = item.image;
    for (const l of img.manifest.layers) await blob(l);
    await blob(img.manifest.config);
    await blob(img.descriptor);
    const base: Descriptor = { mediaType: img.descriptor.mediaType, digest: img.descriptor.digest, size: img.descriptor.size };
    if (item.names.length === 0) index.manifests.push(base);
    const tags: string[] = [];
    for (const n of item.names) {
      const ref = parseReference(n, { defaultTag: false });
      index.manifests.push({
        ...base,
        annotations: {
          'io.containerd.image.name': ref.toString(),
          'org.opencontainers.image.ref.name': ref.tag ?? 'latest',
        },
      });
      if (ref.tag !== undefined) {
        tags.push(`${ref.familiarName()}:${ref.tag}`);
        (repositories[ref.familiarName()] ??= {})[ref.tag] = digestHex(img.id);
      }
    }
    dockerManifest.push({
      Config: `blobs/sha256/${digestHex(img.manifest.config.digest)}`,
      RepoTags: tags.length ? tags : null,
      Layers: img.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    });
  }
  await writeEntry(pack, 'index.json', Buffer.from(JSON.stringify(index)));
  await writeEntry(pack, 'manifest.json', Buffer.from(JSON.stringify(dockerManifest)));
  await writeEntry(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  if (Object.keys(repositories).length) await writeEntry(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
  pack.finalize();
}
