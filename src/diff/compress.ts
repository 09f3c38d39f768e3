import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { KilnError } from '../diagnostics/errors.js';

/**
 * Parallel gzip, pigz's way: the input is cut into fixed-size blocks; each block is raw-deflated
 * on its own (in libuv's thread pool, so blocks compress on all cores at once) with the previous
 * block's last 32 KiB as its preset dictionary and a sync flush at its end; the pieces are
 * concatenated after one gzip header and closed by an empty final block and the CRC-32/ISIZE
 * trailer. The result is ONE ordinary gzip member (`gzip -t`, Go's and Node's readers, and every
 * registry accept it) and, for a given input, block size, level and zlib build, the same bytes
 * every time: blocks never depend on timing.
 */
export interface GzipOptions {
  level?: number; // default 6, gzip's default
  blockSize?: number; // default 1 MiB
  /** Blocks compressed at once; default: available cores + 1. */
  concurrency?: number;
  /** Store blocks that do not compress instead of deflating them (default true). */
  storeIncompressible?: boolean;
}

const DICT = 32 * 1024;
// Fixed header: no name, mtime 0, XFL 0, OS 255 (unknown) — nothing that varies by machine.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

function deflateRawAsync(data: Buffer, opts: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => zlib.deflateRaw(data, opts, (err, out) => (err ? reject(err) : resolve(out))));
}

const SAMPLE = 16 * 1024;
const SAMPLES = 4;
const STORED_MAX = 65535;

/**
 * Incompressible data (already compressed files, random bytes) costs deflate the most time for
 * nothing. Each block is first probed: SAMPLES spread slices compressed at level 1; when none
 * shrinks below 97 %, the block is written as deflate *stored* blocks (valid deflate, read by
 * every inflater) instead. The decision depends only on the bytes, so output stays deterministic.
 */
async function incompressible(data: Buffer): Promise<boolean> {
  if (data.length < SAMPLE * SAMPLES * 2) return false;
  const step = Math.floor((data.length - SAMPLE) / (SAMPLES - 1));
  const outs = await Promise.all(Array.from({ length: SAMPLES }, (_, i) => deflateRawAsync(data.subarray(i * step, i * step + SAMPLE), { level: 1 })));
  return outs.every((o) => o.length > SAMPLE * 0.97);
}

/** Non-final stored deflate blocks holding `data` (the stream is byte-aligned before and after). */
function storedBlocks(data: Buffer): Buffer {
  const n = Math.ceil(data.length / STORED_MAX);
  const out = Buffer.allocUnsafe(data.length + 5 * n);
  let o = 0;
  for (let i = 0; i < data.length; i += STORED_MAX) {
    const len = Math.min(STORED_MAX, data.length - i);
    out[o] = 0; // BFINAL=0, BTYPE=00 (stored), then padding to the byte boundary
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    data.copy(out, o + 5, i, i + len);
    o += 5 + len;
  }
  return out;
}

async function deflateBlock(data: Buffer, level: number, dictionary: Buffer | undefined, store: boolean): Promise<Buffer> {
  if (store && level > 0 && (await incompressible(data))) return storedBlocks(data);
  const opts: zlib.ZlibOptions = { level, finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: Math.max(64 * 1024, data.length + 1024) };
  if (dictionary) opts.dictionary = dictionary;
  return deflateRawAsync(data, opts);
}

/** Re-cut a stream of buffers into blocks of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let cur = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const b of source) {
    let off = 0;
    // Big aligned pieces pass through without a copy.
    if (fill === 0 && b.length === size) {
      yield b;
      continue;
    }
    while (off < b.length) {
      const k = Math.min(size - fill, b.length - off);
      b.copy(cur, fill, off, off + k);
      fill += k;
      off += k;
      if (fill === size) {
        yield cur;
        cur = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill) yield cur.subarray(0, fill);
}

/** gzip `blocks` (as cut by `rechunk`) in parallel; yields the compressed stream in order. */
export async function* gzipParallel(blocks: AsyncIterable<Buffer>, opts: GzipOptions = {}): AsyncGenerator<Buffer> {
  const level = opts.level ?? 6;
  const concurrency = Math.max(1, opts.concurrency ?? os.availableParallelism() + 1);
  const queue: Promise<Buffer>[] = [];
  let crc = 0;
  let isize = 0;
  let prev: Buffer | undefined;
  yield GZIP_HEADER;
  for await (const b of blocks) {
    crc = zlib.crc32(b, crc);
    isize = (isize + b.length) >>> 0;
    const dict = prev ? (prev.length > DICT ? prev.subarray(prev.length - DICT) : prev) : undefined;
    const p = deflateBlock(b, level, dict, opts.storeIncompressible !== false);
    p.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
    queue.push(p);
    prev = b;
    while (queue.length >= concurrency) yield await queue.shift()!;
  }
  while (queue.length) yield await queue.shift()!;
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(isize, 4);
  yield Buffer.concat([FINAL_EMPTY_BLOCK, trailer]);
}

// ---- decompression ----------------------------------------------------------------------------

export type Compression = 'gzip' | 'zstd' | 'none';

/** Sniff the compression from the first bytes (never from a media type or file name). */
export function detectCompression(head: Buffer): Compression | 'bzip2' | 'xz' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** `head` (chunks already taken from `rest`), then the rest of `rest`. */
export async function* prepend(head: Buffer | readonly Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  try {
    for (const h of Array.isArray(head) ? head : [head]) if (h.length) yield h;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await rest.return?.(); // stopping early closes the source (e.g. the store's file handle)
  }
}

/** zstd through the host's /usr/bin/zstd (fixed path: never a binary from a container's tree). */
const ZSTD = ['/usr/bin/zstd', '/bin/zstd'].find((p) => existsSync(p));

/**
 * Decompress a layer blob whose compression is detected from its content: gzip (Node's zlib,
 * multi-member aware), zstd (host zstd binary, when installed) or none.
 */
export async function decompressStream(source: AsyncIterable<Buffer>): Promise<{ compression: Compression; stream: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 6) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, r.value]);
  }
  const kind = detectCompression(head);
  const input = prepend(head, it);
  if (kind === 'none') return { compression: 'none', stream: input };
  if (kind === 'gzip') {
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
    return { compression: 'gzip', stream: pipeThrough(input, gunzip) };
  }
  if (kind === 'zstd') {
    if (!ZSTD) throw new KilnError('LAYER_UNSUPPORTED_COMPRESSION', 'layer is zstd-compressed and no zstd program is installed', { hint: 'apt-get install zstd' });
    const child = spawn(ZSTD, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
    Readable.from(input).pipe(child.stdin).on('error', () => undefined);
    return {
      compression: 'zstd',
      stream: (async function* () {
        let ok = false;
        try {
          for await (const c of child.stdout) yield c as Buffer;
          ok = true;
        } finally {
          if (!ok) child.kill('SIGKILL');
        }
        if ((await exited) !== 0) throw new KilnError('LAYER_INVALID_COMPRESSION', `zstd: ${stderr.trim() || 'decompression failed'}`);
      })(),
    };
  }
  throw new KilnError('LAYER_UNSUPPORTED_COMPRESSION', `layer is ${kind}-compressed; kiln reads gzip, zstd and uncompressed layers`);
}

async function* pipeThrough(input: AsyncIterable<Buffer>, t: zlib.Gunzip): AsyncGenerator<Buffer> {
  const src = Readable.from(input, { objectMode: false });
  src.on('error', (e) => t.destroy(e));
  src.pipe(t);
  try {
    for await (const c of t) yield c as Buffer;
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError('LAYER_INVALID_COMPRESSION', `gzip: ${(err as Error).message}`, { cause: err });
  } finally {
    src.destroy();
    t.destroy();
  }
}
