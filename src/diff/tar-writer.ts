import { promises as fs, readFileSync } from 'node:fs';
import { KilnError } from '../diagnostics/errors.js';
import type { LayerEntry } from './changes.js';
import { encodeHeader, paddingFor } from './tar-header.js';

const SMALL = 256 * 1024;
/** Files up to this size are read synchronously when their turn comes: cheaper than a pool round trip. */
const TINY = 64 * 1024;
const WINDOW = 64;
const READ_CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(1024);

function changed(path: string, why: string): KilnError {
  return new KilnError('LAYER_FILE_CHANGED', `${path} changed while the layer was written (${why})`, { hint: 'do not modify a snapshot while it is being committed' });
}

async function* readBig(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await fs.open(path, 'r');
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw changed(path, 'it shrank');
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Serialise layer entries into a tar stream: header (+pax), file bytes, padding; two zero blocks
 * at the end (no record padding, as Go's archive/tar). A regular file whose inode was already
 * written in this layer becomes a hardlink entry to the first path. Small files are read ahead
 * (a bounded window) so the thread pool overlaps their I/O.
 */
export async function* writeTar(entries: AsyncIterable<LayerEntry>): AsyncGenerator<Buffer> {
  const it = entries[Symbol.asyncIterator]();
  const window: { e: LayerEntry; data?: Promise<Buffer> }[] = [];
  let ended = false;
  const links = new Map<string, string>();
  const fill = async () => {
    while (!ended && window.length < WINDOW) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      const e = r.value;
      const slot: { e: LayerEntry; data?: Promise<Buffer> } = { e };
      if (e.source && e.header.size > TINY && e.header.size <= SMALL && !(e.nlink && e.nlink > 1)) {
        slot.data = fs.readFile(e.source);
        slot.data.catch(() => undefined);
      }
      window.push(slot);
    }
  };
  for (;;) {
    await fill();
    const slot = window.shift();
    if (!slot) break;
    const { e } = slot;
    let h = e.header;
    if (e.inode && e.nlink && e.nlink > 1) {
      const first = links.get(e.inode);
      if (first !== undefined) {
        h = { name: h.name, type: 'hardlink', linkname: first, mode: h.mode, uid: h.uid, gid: h.gid, size: 0, mtime: h.mtime };
        yield encodeHeader(h);
        continue;
      }
      links.set(e.inode, h.name);
    }
    yield encodeHeader(h);
    if (h.type !== 'file' || h.size === 0 || !e.source) continue;
    if (slot.data || h.size <= TINY) {
      const data = slot.data ? await slot.data : readFileSync(e.source);
      if (data.length !== h.size) throw changed(e.source, `size ${h.size} became ${data.length}`);
      yield data;
    } else {
      yield* readBig(e.source, h.size);
    }
    const pad = paddingFor(h.size);
    if (pad) yield ZEROS.subarray(0, pad);
  }
  yield ZEROS;
}
