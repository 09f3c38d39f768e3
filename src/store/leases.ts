/**
 * Leases pin blobs that an operation has written but not yet referenced (a build's layers before the
 * image exists, a pull in progress). GC treats every blob of a live lease as a root.
 * A lease is `meta/leases/<id>.json` = {pid, expires, digests}; it is live while its process runs and it
 * has not expired; dead leases are ignored (and removed by the next GC).
 *
 *   const lease = await createLease(root);
 *   const info = await content.put(stream);  await lease.add(info.digest);
 *   await images.createImage(...);           await lease.release();
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import { readJsonFile, replaceFileUnsynced } from '../util/atomic-file.js';
import type { GcNode, RootProvider } from './gc.js';

interface LeaseFile {
  pid: number;
  expires: number;
  digests: string[];
}

export interface Lease {
  readonly id: string;
  add(...digests: Digest[]): Promise<void>;
  release(): Promise<void>;
}

const leasesDir = (root: string) => path.join(root, 'meta', 'leases');

export async function createLease(root: string, ttlMs = 24 * 3600_000): Promise<Lease> {
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const file = path.join(leasesDir(root), `${id}.json`);
  const state: LeaseFile = { pid: process.pid, expires: Date.now() + ttlMs, digests: [] };
  // not synced: a lease only counts while its process runs, and after a power cut none does
  const write = () => replaceFileUnsynced(file, JSON.stringify(state));
  write();
  return {
    id,
    async add(...digests) {
      state.digests.push(...digests);
      write();
    },
    async release() {
      await fs.rm(file, { force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How many leases are held by processes still running (a build, a pull). */
export async function liveLeases(root: string): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(leasesDir(root));
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const l = await readJsonFile<LeaseFile>(path.join(leasesDir(root), name)).catch(() => undefined);
    if (l && alive(l.pid) && l.expires >= Date.now()) n++;
  }
  return n;
}

export const leaseRootProvider: RootProvider = {
  name: 'leases',
  async roots(root) {
    const out: GcNode[] = [];
    let names: string[];
    try {
      names = await fs.readdir(leasesDir(root));
    } catch {
      return out;
    }
    for (const n of names) {
      if (!n.endsWith('.json') || n.startsWith('.')) continue;
      const file = path.join(leasesDir(root), n);
      const l = await readJsonFile<LeaseFile>(file).catch(() => undefined);
      if (!l || !alive(l.pid) || l.expires < Date.now()) {
        await fs.rm(file, { force: true });
        continue;
      }
      for (const d of l.digests) if (isDigest(d)) out.push({ digest: d });
    }
    return out;
  },
};
