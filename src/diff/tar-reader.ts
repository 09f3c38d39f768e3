import { KilnError } from '../diagnostics/errors.js';
import { BLOCK, decodeHeader, isZeroBlock, paddingFor, parsePax, type EntryType, type TarHeader } from './tar-header.js';

/** Caps on what an (untrusted) layer tar may make kiln do; each trips with its own LAYER_* code. */
export interface TarLimits {
  /** Entries (files, dirs, links ...), not counting pax/long-name headers. LAYER_TOO_MANY_ENTRIES. Default 1,000,000. */
  maxEntries: number;
  /** Components in one path. LAYER_PATH_TOO_DEEP. Default 1024 (node-tar's maxDepth). */
  maxPathDepth: number;
  /** Bytes of one pax header / GNU long name or link. LAYER_HEADER_TOO_LARGE. Default 1 MiB. */
  maxHeaderSize: number;
  /** Uncompressed bytes of the whole tar. LAYER_TOO_LARGE. Default 64 GiB. */
  maxTotalSize: number;
}

export const DEFAULT_LIMITS: TarLimits = {
  maxEntries: 1_000_000,
  maxPathDepth: 1024,
  maxHeaderSize: 1 << 20,
  maxTotalSize: 64 * 1024 ** 3,
};

const TYPES: Record<string, EntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

function invalid(msg: string): KilnError {
  return new KilnError('LAYER_INVALID_TAR', `invalid layer tar: ${msg}`);
}

/**
 * A pull parser over a stream of tar bytes. `next()` gives the next entry's header (pax and GNU
 * long names folded in); its body must be read with `body()` or is skipped by the next `next()`.
 * After the end-of-archive marker the rest of the stream is drained (it still counts toward the
 * size limit and the caller's digest).
 */
export class TarReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private avail = 0;
  private total = 0;
  private entries = 0;
  private remaining = 0; // body bytes of the current entry not read yet
  private padding = 0;
  private done = false;
  readonly limits: TarLimits;

  constructor(source: AsyncIterable<Buffer>, limits: Partial<TarLimits> = {}) {
    this.it = source[Symbol.asyncIterator]();
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Uncompressed bytes read so far. */
  get bytesRead(): number {
    return this.total;
  }

  private async pull(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    const b = r.value;
    this.total += b.length;
    if (this.total > this.limits.maxTotalSize) {
      throw new KilnError('LAYER_TOO_LARGE', `layer is larger than ${this.limits.maxTotalSize} bytes uncompressed`, { hint: 'raise the decompressed size limit if this layer is legitimate' });
    }
    if (b.length) {
      this.chunks.push(b);
      this.avail += b.length;
    }
    return true;
  }

  private async ensure(n: number): Promise<boolean> {
    while (this.avail < n) if (!(await this.pull())) return false;
    return true;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.avail -= n;
    return out;
  }

  private async read(n: number, what: string): Promise<Buffer> {
    if (!(await this.ensure(n))) throw invalid(`unexpected end of archive in ${what}`);
    return this.take(n);
  }

  private async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      if (this.avail === 0 && !(await this.pull())) throw invalid(`unexpected end of archive in ${what}`);
      const k = Math.min(n, this.avail);
      let left = k;
      while (left > 0) {
        const c = this.chunks[0]!;
        if (c.length <= left) {
          left -= c.length;
          this.chunks.shift();
        } else {
          this.chunks[0] = c.subarray(left);
          left = 0;
        }
      }
      this.avail -= k;
      n -= k;
    }
  }

  /** The current entry's body, as zero-copy slices of the input. */
  async *body(): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      if (this.avail === 0 && !(await this.pull())) throw invalid('unexpected end of archive in file data');
      const c = this.chunks[0]!;
      const k = Math.min(c.length, this.remaining);
      const out = k === c.length ? c : c.subarray(0, k);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.avail -= k;
      this.remaining -= k;
      yield out;
    }
  }

  async next(): Promise<TarHeader | null> {
    if (this.done) return null;
    await this.skip(this.remaining + this.padding, 'file data');
    this.remaining = 0;
    this.padding = 0;
    let pax = new Map<string, Buffer>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      if (!(await this.ensure(BLOCK))) {
        if (this.avail === 0 && !longName && !longLink && pax.size === 0) return this.finish(); // tolerate a missing end marker
        throw invalid('unexpected end of archive in a header');
      }
      const block = this.take(BLOCK);
      if (isZeroBlock(block)) return this.finish();
      const raw = decodeHeader(block);
      const small = async (what: string) => {
        if (raw.size > this.limits.maxHeaderSize) {
          throw new KilnError('LAYER_HEADER_TOO_LARGE', `a ${what} of ${raw.size} bytes exceeds the limit of ${this.limits.maxHeaderSize}`);
        }
        const body = await this.read(raw.size, what);
        await this.skip(paddingFor(raw.size), what);
        return body;
      };
      if (raw.typeflag === 'x') {
        for (const [k, v] of parsePax(await small('pax header'))) pax.set(k, v);
        continue;
      }
      if (raw.typeflag === 'g') {
        await small('global pax header'); // nothing in a global header changes how kiln applies a layer
        continue;
      }
      if (raw.typeflag === 'L' || raw.typeflag === 'K') {
        const b = await small('GNU long name');
        const end = b.indexOf(0);
        const s = b.toString('utf8', 0, end < 0 ? b.length : end);
        if (raw.typeflag === 'L') longName = s;
        else longLink = s;
        continue;
      }
      if (++this.entries > this.limits.maxEntries) {
        throw new KilnError('LAYER_TOO_MANY_ENTRIES', `layer has more than ${this.limits.maxEntries} entries`);
      }
      let type = TYPES[raw.typeflag];
      let name = longName ?? raw.name;
      if (pax.has('path')) name = pax.get('path')!.toString('utf8');
      let linkname = longLink ?? raw.linkname;
      if (pax.has('linkpath')) linkname = pax.get('linkpath')!.toString('utf8');
      const num = (k: string, d: number) => {
        const v = pax.get(k);
        if (v === undefined) return d;
        const n = Math.floor(Number(v.toString('latin1')));
        if (!Number.isSafeInteger(n) || n < 0) throw invalid(`pax ${k} is not a valid number`);
        return n;
      };
      let size = num('size', raw.size);
      if (type === 'file' && name.endsWith('/')) type = 'dir'; // old tars mark dirs by a trailing slash only
      if (type === undefined) {
        if (raw.typeflag === 'S') throw new KilnError('LAYER_UNSUPPORTED_ENTRY', `${name}: GNU sparse files are not supported in layers`);
        // Unknown entry types (e.g. GNU volume headers) are skipped, with their data.
        this.remaining = size;
        this.padding = paddingFor(size);
        await this.skip(this.remaining + this.padding, 'unknown entry');
        this.remaining = this.padding = 0;
        pax = new Map();
        longName = longLink = undefined;
        continue;
      }
      if (name.includes('\0') || linkname.includes('\0')) throw invalid(`entry name contains a NUL byte`);
      let depth = 0;
      for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 47) depth++;
      if (depth + 1 > this.limits.maxPathDepth && name.split('/').filter((c) => c && c !== '.').length > this.limits.maxPathDepth) {
        throw new KilnError('LAYER_PATH_TOO_DEEP', `entry path has more than ${this.limits.maxPathDepth} components`);
      }
      if (type !== 'file') size = 0; // header-only types carry no data (as Go's archive/tar reads them)
      const h: TarHeader = {
        name: name.replace(/\/+$/, ''),
        type,
        mode: raw.mode & 0o7777,
        uid: num('uid', raw.uid),
        gid: num('gid', raw.gid),
        size,
        mtime: num('mtime', raw.mtime),
      };
      if (type === 'hardlink' || type === 'symlink') h.linkname = linkname;
      if (type === 'char' || type === 'block') {
        h.devmajor = raw.devmajor;
        h.devminor = raw.devminor;
      }
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) (h.xattrs ??= new Map()).set(k.slice('SCHILY.xattr.'.length), v);
      }
      this.remaining = size;
      this.padding = paddingFor(size);
      return h;
    }
  }

  private async finish(): Promise<null> {
    this.done = true;
    // Drain the rest (second zero block, padding, trailing bytes): it is part of the blob and its digest.
    this.chunks = [];
    this.avail = 0;
    while (await this.pull()) {
      this.chunks = [];
      this.avail = 0;
    }
    return null;
  }
}
