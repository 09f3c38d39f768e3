/**
 * Tar headers, written and read by hand (POSIX ustar + pax extended headers, GNU long names on
 * read). Why not tar-stream: the reader must enforce kiln's limits (pax/long-name size, negative
 * or overflowing base-256 numbers, checksums) before buffering anything, and the writer must be
 * byte-for-byte deterministic (fixed pax header names, no uname/gname, no atime/ctime).
 */
import { KilnError } from '../diagnostics/errors.js';

export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  /** Path inside the layer: no leading `./` or `/`; directories end without a slash here. */
  name: string;
  type: EntryType;
  mode: number; // permission bits incl. setuid/setgid/sticky (0o7777)
  uid: number;
  gid: number;
  size: number;
  mtime: number; // seconds
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** xattrs, carried as pax `SCHILY.xattr.<name>` records */
  xattrs?: Map<string, Buffer>;
}

const TYPE_FLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  buf.write(s, off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function rawHeader(name: Buffer, h: { type: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname?: Buffer; devmajor?: number; devminor?: number }): Buffer {
  const b = Buffer.alloc(BLOCK);
  name.copy(b, 0, 0, Math.min(100, name.length));
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.write(h.type, 156, 1, 'ascii');
  if (h.linkname) h.linkname.copy(b, 157, 0, Math.min(100, h.linkname.length));
  b.write('ustar\u000000', 257, 8, 'binary');
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'binary');
  return b;
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/**
 * Encode one entry's header block(s): a pax header first when a field does not fit ustar
 * (names or link targets over 100 bytes or not ASCII, ids over 0o7777777, sizes over 8 GiB) or
 * when there are xattrs. Output is a pure function of the header.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = Buffer.from(h.type === 'dir' ? `${h.name}/` : h.name, 'utf8');
  const link = h.linkname === undefined ? undefined : Buffer.from(h.linkname, 'utf8');
  // eslint-disable-next-line no-control-regex
  const nonAscii = (s: string) => /[^\u0001-\u007f]/.test(s);
  const pax: Buffer[] = [];
  if (name.length > 100 || nonAscii(name.toString())) pax.push(paxRecord('path', name));
  if (link && (link.length > 100 || nonAscii(h.linkname!))) pax.push(paxRecord('linkpath', link));
  if (h.uid > MAX_OCTAL7) pax.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL7) pax.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.size > MAX_OCTAL11) pax.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.xattrs) {
    for (const k of [...h.xattrs.keys()].sort()) pax.push(paxRecord(`SCHILY.xattr.${k}`, h.xattrs.get(k)!));
  }
  const main = rawHeader(name, {
    type: TYPE_FLAG[h.type],
    mode: h.mode & 0o7777,
    uid: Math.min(h.uid, MAX_OCTAL7),
    gid: Math.min(h.gid, MAX_OCTAL7),
    size: h.size > MAX_OCTAL11 ? 0 : h.size,
    mtime: Math.max(0, Math.min(h.mtime, MAX_OCTAL11)),
    ...(link ? { linkname: link } : {}),
    ...(h.devmajor !== undefined ? { devmajor: h.devmajor } : {}),
    ...(h.devminor !== undefined ? { devminor: h.devminor } : {}),
  });
  if (!pax.length) return main;
  const body = Buffer.concat(pax);
  const paxName = Buffer.from('PaxHeaders/' + h.name.slice(-80).replace(/^\/+/, ''), 'utf8').subarray(0, 100);
  const ph = rawHeader(paxName, { type: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: Math.max(0, Math.min(h.mtime, MAX_OCTAL11)) });
  return Buffer.concat([ph, body, Buffer.alloc(pad(body.length)), main]);
}

export const paddingFor = pad;

// ---- reading --------------------------------------------------------------------------------

export interface RawHeader {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function bad(msg: string): KilnError {
  return new KilnError('LAYER_INVALID_TAR', `invalid layer tar: ${msg}`);
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** A numeric field: octal (NUL/space padded) or GNU base-256; negative or unsafe values are errors. */
export function parseNumber(b: Buffer, off: number, len: number, field: string): number {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) throw bad(`negative base-256 ${field}`);
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + b[off + i]!;
      if (!Number.isSafeInteger(v)) throw bad(`${field} overflows`);
    }
    return v;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`${field} is not an octal number (${JSON.stringify(s)})`);
  const v = Number.parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw bad(`${field} overflows`);
  return v;
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decode one 512-byte header block (checksum verified). */
export function decodeHeader(b: Buffer): RawHeader {
  const stored = parseNumber(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  if (stored !== unsigned && stored !== signed) throw bad('header checksum mismatch');
  const magic = b.toString('latin1', 257, 263);
  let name = cstr(b, 0, 100);
  if (magic === 'ustar\u0000') {
    const prefix = cstr(b, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    typeflag: String.fromCharCode(b[156]!),
    mode: parseNumber(b, 100, 8, 'mode'),
    uid: parseNumber(b, 108, 8, 'uid'),
    gid: parseNumber(b, 116, 8, 'gid'),
    size: parseNumber(b, 124, 12, 'size'),
    mtime: parseNumber(b, 136, 12, 'mtime'),
    linkname: cstr(b, 157, 100),
    devmajor: magic.startsWith('ustar') ? parseNumber(b, 329, 8, 'devmajor') : 0,
    devminor: magic.startsWith('ustar') ? parseNumber(b, 337, 8, 'devminor') : 0,
  };
}

/** Parse pax records (`<len> <key>=<value>\n`); values stay bytes (xattrs may be binary). */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    if (body[off] === 0) break;
    const sp = body.indexOf(0x20, off);
    if (sp < 0 || sp - off > 20) throw bad('malformed pax record length');
    const len = Number.parseInt(body.toString('latin1', off, sp), 10);
    if (!Number.isSafeInteger(len) || len <= sp - off + 1 || off + len > body.length) throw bad('malformed pax record length');
    const rec = body.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) throw bad('pax record without newline');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw bad('pax record without "="');
    out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1, rec.length - 1));
    off += len;
  }
  return out;
}
