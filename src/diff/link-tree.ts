import { getAttributeSync, listAttributesSync, setAttributeSync } from '../util/xattr.js';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

/**
 * Copy the overlay upper dir `src` into the empty upper dir `dst` with hard links: every file,
 * symlink and whiteout device is linked (no data is copied); directories are made anew with the
 * source's mode, owner, times and extended attributes (`trusted.overlay.opaque` included).
 * For turning a build step's committed tree into an image layer's snapshot without extracting
 * the layer again (src/image/unpack.ts). Both trees must stay read-only: linked files share
 * their inode, and overlayfs copies a file up before a container changes it.
 */
export async function linkUpperDir(src: string, dst: string): Promise<void> {
  await linkTree(src, dst);
  await copyDirMeta(src, dst, await fs.lstat(src));
}

async function linkTree(src: string, dst: string): Promise<void> {
  for (const name of await fs.readdir(src)) {
    const s = path.join(src, name);
    const d = path.join(dst, name);
    const st = await fs.lstat(s);
    if (st.isDirectory()) {
      await fs.mkdir(d);
      await linkTree(s, d);
      await copyDirMeta(s, d, st);
    } else {
      await fs.link(s, d); // link(2) does not follow a symlink: the link itself is shared
    }
  }
}

async function copyDirMeta(s: string, d: string, st: Stats): Promise<void> {
  let names: string[] = [];
  try {
    names = listAttributesSync(s);
  } catch {
    // a filesystem without xattrs
  }
  for (const n of names) {
    if (n === 'security.selinux') continue;
    const v = getAttributeSync(s, n);
    if (v) setAttributeSync(d, n, v);
  }
  await fs.lchown(d, st.uid, st.gid);
  await fs.chmod(d, st.mode & 0o7777);
  await fs.utimes(d, st.atime, st.mtime);
}
