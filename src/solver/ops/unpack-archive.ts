import { spawn } from 'node:child_process';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { KilnError } from '../../diagnostics/errors.js';
import { applyTar } from '../../diff/apply.js';

type Kind = 'gzip' | 'bzip2' | 'xz' | 'none';

function compressionOf(head: Buffer): Kind {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** A tar header block: `ustar` magic, or (old v7 tar) a valid header checksum. */
export function looksLikeTar(block: Buffer): boolean {
  if (block.length < 512) return false;
  if (block.toString('latin1', 257, 262) === 'ustar') return true;
  const stored = parseInt(block.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === stored && block[0] !== 0;
}

const TOOLS: Record<'bzip2' | 'xz', string | undefined> = {
  bzip2: ['/usr/bin/bzip2', '/bin/bzip2'].find((p) => existsSync(p)),
  xz: ['/usr/bin/xz', '/bin/xz'].find((p) => existsSync(p)),
};

function decompress(file: string, kind: Kind): Readable {
  const src = createReadStream(file);
  if (kind === 'none') return src;
  if (kind === 'gzip') return src.pipe(zlib.createGunzip());
  const tool = TOOLS[kind];
  if (!tool) throw new KilnError('SOLVE_UNSUPPORTED', `ADD: ${kind} archives need the ${kind} program (apt-get install ${kind === 'xz' ? 'xz-utils' : 'bzip2'})`);
  const child = spawn(tool, ['-d', '-c'], { stdio: ['pipe', 'pipe', 'ignore'], env: {} });
  src.pipe(child.stdin).on('error', () => undefined);
  return child.stdout;
}

async function firstBlock(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= 512) break;
  }
  r.destroy();
  return Buffer.concat(chunks).subarray(0, 512);
}

/**
 * ADD's auto-extraction: when `file` is a tar archive (plain, gzip, bzip2 or xz — detected by
 * content, never by name), unpack it into `destDir` and return true; otherwise false (the file
 * is copied as it is). `destDirOf` makes the directory only once the file is known to be an
 * archive. Entries are confined to that directory by the layer applier.
 */
export async function unpackIfArchive(file: string, destDirOf: () => Promise<string>): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  const head = Buffer.alloc(6);
  try {
    await fh.read(head, 0, 6, 0);
  } finally {
    await fh.close();
  }
  const kind = compressionOf(head);
  let block: Buffer;
  try {
    block = await firstBlock(decompress(file, kind));
  } catch {
    return false;
  }
  if (!looksLikeTar(block)) return false;
  const destDir = await destDirOf();
  await applyTar(decompress(file, kind) as AsyncIterable<Buffer>, destDir);
  return true;
}
