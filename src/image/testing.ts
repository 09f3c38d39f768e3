/** Test helpers: small root filesystem tarballs built in memory (busybox-static when installed). */
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export const BUSYBOX = '/bin/busybox';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: Buffer | string;
  linkname?: string;
  mode?: number;
}

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(1_700_000_000_000),
      uid: 0,
      gid: 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const body = type === 'file' ? Buffer.from(e.body ?? '') : undefined;
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined) pack.entry(header, cb);
      else pack.entry({ ...header, size: body.length }, body, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A minimal busybox rootfs tar (bin/busybox + sh/ls/echo/cat links), or undefined when busybox is missing. */
export async function busyboxRootfs(): Promise<Buffer | undefined> {
  if (!existsSync(BUSYBOX)) return undefined;
  const bb = readFileSync(BUSYBOX);
  return makeTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', body: bb, mode: 0o755 },
    ...['sh', 'ls', 'echo', 'cat', 'true'].map((n) => ({ name: `bin/${n}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ]);
}

/**
 * A raw ustar header block of type 'x' (pax) announcing `size` bytes, written by hand so tests can
 * build archives a tar library would refuse to write (oversized or truncated pax records).
 */
export function rawPaxHeader(size: number, name: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write('00000000000\0', 136);
  b.write('x', 156);
  b.write('ustar\u000000', 257);
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

export function gzip(b: Buffer): Buffer {
  return gzipSync(b);
}

/** A writable that keeps what is written (for CLI output in tests). */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}
