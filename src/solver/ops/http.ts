import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../diagnostics/errors.js';

export interface Fetched {
  file: string;
  digest: string;
  size: number;
  /** Last-Modified, for the file's mtime (not part of any key). */
  mtime?: Date;
}

/** Download `url` to a temp file while hashing it (ADD <url>). The caller removes `file`. */
export async function fetchToFile(url: string, signal: AbortSignal): Promise<Fetched> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    throw new KilnError('SOLVE_HTTP_FAILED', `ADD ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok || !res.body) throw new KilnError('SOLVE_HTTP_FAILED', `ADD ${url}: HTTP ${res.status} ${res.statusText}`);
  const file = path.join(os.tmpdir(), `kiln-add-${randomBytes(8).toString('hex')}`);
  const h = createHash('sha256');
  let size = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    h.update(c);
    size += c.length;
  });
  try {
    await pipeline(body, createWriteStream(file, { mode: 0o600 }), { signal });
  } catch (err) {
    await fs.rm(file, { force: true });
    throw new KilnError('SOLVE_HTTP_FAILED', `ADD ${url}: ${(err as Error).message}`, { cause: err });
  }
  const lm = res.headers.get('last-modified');
  const out: Fetched = { file, digest: `sha256:${h.digest('hex')}`, size };
  if (lm && !Number.isNaN(Date.parse(lm))) out.mtime = new Date(lm);
  return out;
}

/** `--checksum=sha256:<hex>` (a bare hex is read as sha256). */
export function checkChecksum(url: string, expected: string, actual: string): void {
  const want = expected.includes(':') ? expected : `sha256:${expected}`;
  if (!/^sha256:[0-9a-f]{64}$/.test(want)) {
    throw new KilnError('SOLVE_BAD_CHECKSUM', `ADD --checksum=${expected}: only sha256:<64 hex digits> is supported`);
  }
  if (want !== actual) throw new KilnError('SOLVE_CHECKSUM_MISMATCH', `ADD ${url}: digest mismatch ${want}: ${actual}`);
}
