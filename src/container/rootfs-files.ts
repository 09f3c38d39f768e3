import fs from 'node:fs/promises';
import { cleanComponents, RootResolver } from '../diff/resolve.js';

/** Host path of `p` inside a container root filesystem, with symlinks resolved as a chroot would. */
export async function pathInRoot(root: string, p: string, followFinal = true): Promise<string> {
  const r = new RootResolver(root);
  return r.abs(await r.resolve(cleanComponents(p), followFinal));
}

/** Read a small text file of a root filesystem (e.g. /etc/passwd), never outside it; undefined if absent. */
export async function readFileInRoot(root: string, p: string, maxBytes = 4 * 1024 * 1024): Promise<string | undefined> {
  const host = await pathInRoot(root, p);
  let fh: fs.FileHandle;
  try {
    // O_NOFOLLOW: the resolver already expanded every link inside the root.
    fh = await fs.open(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, maxBytes));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}
