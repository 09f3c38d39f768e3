/**
 * `kiln import`: a root filesystem tarball (plain or gzip) becomes a one-layer image.
 * The tar is parsed while it streams (tar-stream) and must be a well-formed archive with safe entry names;
 * it is stored as a gzip layer (a gzip input as is), with diffID = sha256 of the uncompressed tar.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { gzipParallel, rechunk } from '../diff/compress.js';
import tar from 'tar-stream';
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

const TYPES = new Set(['file', 'link', 'symlink', 'directory', 'character-device', 'block-device', 'fifo', 'contiguous-file']);

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
 * Consume a tar stream, validating every header; resolves with the entry count.
 * Entry bodies are skipped, never written anywhere.
 */
export interface TarValidator {
  /** Feed bytes; false means "wait for drain". */
  write(chunk: Buffer): boolean;
  end(): void;
  onDrain(fn: () => void): void;
  destroy(err: Error): void;
  done: Promise<number>;
}

export function validateTar(limits: TarCheckLimits = DEFAULT_TAR_LIMITS): TarValidator {
  const extract = tar.extract();
  let count = 0;
  const done = new Promise<number>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      stream.on('error', () => {}); // the archive's error is reported once, by `done`
      try {
        count++;
        if (count > limits.maxEntries) throw badTar(`more than ${limits.maxEntries} entries`);
        const type = header.type ?? 'file';
        if (!TYPES.has(type)) throw badTar(`entry ${JSON.stringify(header.name)} has unsupported type ${type}`);
        checkEntryName(header.name, 'entry', limits);
        if (type === 'link') checkEntryName(header.linkname ?? '', `hardlink target of ${JSON.stringify(header.name)}`, limits);
        if (type === 'symlink' && (header.linkname ?? '').includes('\0')) throw badTar(`symlink ${JSON.stringify(header.name)} has a NUL in its target`);
      } catch (err) {
        extract.destroy(err as Error);
        return;
      }
      stream.on('end', () => next());
      stream.resume();
    });
    extract.on('finish', () => resolve(count));
    extract.on('error', (err: Error) => reject(err instanceof KilnError ? err : badTar(`not a valid tar archive: ${err.message}`)));
  });
  done.catch(() => {});
  // tar-stream streams are streamx streams: fed by hand rather than with node's pipe()
  return {
    write: (c) => extract.write(c),
    end: () => (extract as unknown as { end(): void }).end(),
    onDrain: (fn) => extract.once('drain', fn),
    destroy: (err) => extract.destroy(err),
    done,
  };
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
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (!gz && head.length >= 3 && ((head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) || (head[0] === 0xfd && head[1] === 0x37))) {
    throw badTar('bzip2/xz compressed input is not supported', 'decompress it first, or use gzip');
  }
  const diff = new Verifier();
  const check = validateTar(limits);
  let firstError: Error | undefined;
  const waitDrain = (on: (fn: () => void) => void) => new Promise<void>((resolve) => on(resolve));
  /** The uncompressed tar goes through here: hashed for the diffID and parsed by the validator. */
  const inspect = async (chunk: Buffer) => {
    diff.update(chunk);
    if (diff.size > limits.maxTotalSize) {
      throw new KilnError('LAYER_TOO_LARGE', `the uncompressed tar is larger than ${limits.maxTotalSize} bytes`);
    }
    if (!check.write(chunk)) await waitDrain((fn) => check.onDrain(fn));
  };
  let blob: Readable;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  if (gz) {
    // stored as is; inflated on the side for the diffID and the tar check
    const inflater = createGunzip();
    gunzip = inflater;
    let inflating = Promise.resolve();
    inflater.on('data', (c: Buffer) => {
      inflater.pause();
      inflating = inspect(c).then(
        () => {
          inflater.resume();
        },
        (err: Error) => fail(err),
      );
    });
    const inflated = new Promise<void>((resolve, reject) => {
      inflater.on('end', () => {
        inflating.then(() => {
          check.end();
          resolve();
        }, reject);
      });
      inflater.on('error', (e) => reject(badTar(`bad gzip data: ${e.message}`)));
    });
    inflated.catch(() => {});
    blob = Readable.from(
      (async function* () {
        for await (const chunk of stream) {
          if (!inflater.write(chunk as Buffer)) await waitDrain((fn) => inflater.once('drain', fn));
          yield chunk as Buffer;
        }
        inflater.end();
        await inflated;
        // the blob stream ends (and the store commits) only once the tar was fully validated
        await check.done;
      })(),
    );
  } else {
    // compressed on every core (src/diff's pigz-style gzip: one ordinary gzip member)
    const plain = (async function* () {
      for await (const chunk of stream) {
        await inspect(chunk as Buffer);
        yield chunk as Buffer;
      }
      check.end();
      await check.done; // the last block is compressed (and the blob committed) only after validation
    })();
    blob = Readable.from(gzipParallel(rechunk(plain, 1 << 20)));
  }
  const fail = (err: Error) => {
    firstError ??= err;
    blob.destroy(firstError);
    gunzip?.destroy(firstError);
    stream.destroy(firstError);
    check.destroy(firstError);
  };
  blob.on('error', (e: Error) => fail(e));
  gunzip?.on('error', (e: Error) => fail(badTar(`bad gzip data: ${e.message}`)));
  check.done.catch((e: Error) => fail(e));
  let info: Awaited<ReturnType<ContentStore['put']>>;
  let entries: number;
  const putting = content.put(blob);
  try {
    [info, entries] = await Promise.all([putting, check.done]);
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

