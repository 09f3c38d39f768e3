/**
 * `kiln import`: a root filesystem tarball (plain or gzip) becomes a one-layer image.
 * The tar is parsed while it streams (tar-stream) and must be a well-formed archive with safe entry names;
 * it is stored as a gzip layer (a gzip input as is), with diffID = sha256 of the uncompressed tar.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { detectCompression, gzipParallel, rechunk } from '../diff/compress.js';
import { TarReader } from '../diff/tar-reader.js';
import { KilnError } from '../diagnostics/errors.js';
import type { ContentStore } from '../content/types.js';
import { Verifier } from '../content/verifier.js';
import { applyChange } from './changes.js';
import { hostPlatform } from './manifest.js';
import type { ImageStore } from './store.js';
import { MediaType, type ContainerConfig, type Descriptor, type Digest, type ImageConfig } from './types.js';
import { recordLayerSizes } from './layer-size.js';

export interface TarCheckLimits {
  maxEntries: number;
  maxNameBytes: number;
  maxDepth: number;
  /** Uncompressed bytes of the whole tar (LAYER_TOO_LARGE); the same default as src/diff's TarLimits. */
  maxTotalSize: number;
}

export const DEFAULT_TAR_LIMITS: TarCheckLimits = { maxEntries: 1_000_000, maxNameBytes: 4096, maxDepth: 1024, maxTotalSize: 64 * 1024 ** 3 };


function badTar(msg: string, hint?: string): KilnError {
  return new KilnError('LAYER_INVALID_TAR', msg, hint ? { hint } : {});
}

/** A layer entry name is safe when it is relative and has no `..` component (docker's rules, strict). */
export function checkEntryName(name: string, what: string, limits: TarCheckLimits = DEFAULT_TAR_LIMITS): void {
  if (name.includes('\0')) throw badTar(`${what} ${JSON.stringify(name)} contains a NUL byte`);
  if (Buffer.byteLength(name) > limits.maxNameBytes) throw badTar(`${what} is longer than ${limits.maxNameBytes} bytes`);
  if (name.startsWith('/')) throw badTar(`${what} ${JSON.stringify(name)} is an absolute path`, 'layer entries are relative to the root, e.g. "bin/sh"');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw badTar(`${what} ${JSON.stringify(name)} escapes the root with ".."`);
  if (parts.length > limits.maxDepth) throw badTar(`${what} is deeper than ${limits.maxDepth} components`);
}

/**
 * Read a tar with src/diff's TarReader (the parser the layer applier uses, with its limits on entries,
 * depth, header and total size), checking every entry name; bodies are skipped, never written anywhere.
 * Resolves with the entry count.
 */
export async function validateLayerTar(source: AsyncIterable<Buffer>, limits: TarCheckLimits = DEFAULT_TAR_LIMITS): Promise<number> {
  const reader = new TarReader(source, {
    maxEntries: limits.maxEntries,
    maxPathDepth: limits.maxDepth,
    maxTotalSize: limits.maxTotalSize,
  });
  let count = 0;
  for (let h = await reader.next(); h; h = await reader.next()) {
    count++;
    checkEntryName(h.name, 'entry', limits);
    if (h.type === 'hardlink') checkEntryName(h.linkname ?? '', `hardlink target of ${JSON.stringify(h.name)}`, limits);
  }
  if (count === 0 && reader.bytesRead === 0) throw badTar('the input is empty, expected a tar archive');
  return count;
}

/** A bounded queue between one producer and one async-iterating consumer. */
class Channel implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private space: (() => void) | undefined;
  constructor(private readonly capacity: number) {}

  async push(b: Buffer): Promise<void> {
    while (this.queue.length >= this.capacity && !this.error && !this.ended) {
      await new Promise<void>((r) => (this.space = r));
    }
    if (this.error) throw this.error;
    this.queue.push(b);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  fail(err: Error): void {
    this.error ??= err;
    this.wake?.();
    this.space?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      const b = this.queue.shift();
      if (b) {
        this.space?.();
        yield b;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** Read the first bytes of a stream and give back a stream that still yields everything. */
export async function peek(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
  }
  return { head, stream: Readable.from(all(), { objectMode: false }) };
}

export interface LayerImportResult {
  descriptor: Descriptor;
  diffID: Digest;
  /** Uncompressed size. */
  size: number;
  entries: number;
}

/** Store a tar or tar.gz stream as a gzip layer blob, validating the tar as it passes. */
export async function importLayer(content: ContentStore, input: Readable, limits: TarCheckLimits = DEFAULT_TAR_LIMITS): Promise<LayerImportResult> {
  const { head, stream } = await peek(input, 512);
  if (head.length === 0) throw badTar('the input is empty, expected a tar archive');
  const compression = detectCompression(head);
  if (compression !== 'gzip' && compression !== 'none') {
    throw badTar(`${compression}-compressed input is not supported`, 'decompress it first, or use gzip');
  }
  const diff = new Verifier();
  let firstError: Error | undefined;
  let validated: Promise<number>;
  let blob: Readable;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let channel: Channel | undefined;
  if (compression === 'gzip') {
    // stored as is; inflated on the side for the diffID and the tar check
    const inflater = createGunzip();
    gunzip = inflater;
    validated = validateLayerTar(
      (async function* () {
        for await (const c of inflater) {
          diff.update(c as Buffer);
          yield c as Buffer;
        }
      })(),
      limits,
    );
    validated.catch(() => {});
    blob = Readable.from(
      (async function* () {
        for await (const chunk of stream) {
          if (!inflater.write(chunk as Buffer)) {
            await new Promise<void>((resolve, reject) => {
              inflater.once('drain', resolve);
              inflater.once('error', reject);
            });
          }
          yield chunk as Buffer;
        }
        inflater.end();
        // the blob stream ends (and the store commits) only once the tar was fully validated
        await validated;
      })(),
    );
  } else {
    // the tar is validated as it is read; a bounded channel hands the same bytes to the compressor,
    // which runs on every core (src/diff's pigz-style gzip: one ordinary gzip member)
    const ch = new Channel(16);
    channel = ch;
    validated = validateLayerTar(
      (async function* () {
        for await (const c of stream) {
          diff.update(c as Buffer);
          await ch.push(c as Buffer);
          yield c as Buffer;
        }
      })(),
      limits,
    );
    validated.then(
      () => ch.end(), // only now may the last block be compressed and the blob committed
      (err: Error) => ch.fail(err),
    );
    blob = Readable.from(gzipParallel(rechunk(ch, 1 << 20)));
  }
  const fail = (err: Error) => {
    firstError ??= err;
    channel?.fail(firstError);
    blob.destroy(firstError);
    gunzip?.destroy(firstError);
    stream.destroy(firstError);
  };
  blob.on('error', (e: Error) => fail(e));
  gunzip?.on('error', (e: Error) => fail(badTar(`bad gzip data: ${e.message}`)));
  validated.catch((e: Error) => fail(e));
  let info: Awaited<ReturnType<ContentStore['put']>>;
  let entries: number;
  const putting = content.put(blob);
  try {
    [info, entries] = await Promise.all([putting, validated]);
  } catch (err) {
    fail(err as Error);
    await putting.catch(() => {}); // let the store remove its temp file before reporting
    throw firstError ?? err;
  }
  const diffID = await diff.finish();
  return {
    descriptor: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size },
    diffID,
    size: diff.size,
    entries,
  };
}

export interface ImportOptions {
  changes?: string[];
  message?: string;
  /** Shown in the history comment when no message: "Imported from <source>". */
  source?: string;
  names?: string[];
  root: string;
  platform?: { architecture: string; os: string; variant?: string };
}

/** docker import: one layer + a config with only what `changes` set. Returns the manifest descriptor and image ID. */
export async function importImage(images: ImageStore, input: Readable, opts: ImportOptions): Promise<{ descriptor: Descriptor; id: Digest }> {
  // validate the changes before reading any data
  const cc: ContainerConfig = {};
  for (const c of opts.changes ?? []) applyChange(cc, c);
  const layer = await importLayer(images.content, input);
  await recordLayerSizes(opts.root, { [layer.diffID]: layer.size }).catch(() => {});
  const created = new Date().toISOString();
  const platform = opts.platform ?? hostPlatform();
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    ...(Object.keys(cc).length > 0 ? { config: cc } : {}),
    rootfs: { type: 'layers', diff_ids: [layer.diffID] },
    history: [{ created, comment: opts.message ?? `Imported from ${opts.source ?? '-'}` }],
  };
  const descriptor = await images.createImage({
    config,
    layers: [{ descriptor: layer.descriptor, diffID: layer.diffID }],
    names: opts.names ?? [],
  });
  if (!opts.names?.length) await images.addDangling(descriptor);
  const id = await images.imageId(descriptor);
  return { descriptor, id };
}

