import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../image/types.js';

/**
 * Where blobs came from (`registry/repository` per digest), so a push can mount a blob from a
 * repository of the same registry instead of uploading it (Docker's distribution metadata).
 * A hint only: lines are appended, and a lost line means an upload instead of a mount.
 * Stored under `$KILN_ROOT/meta/registry-sources/<hex>`.
 */
const dir = (root: string): string => path.join(root, 'meta', 'registry-sources');

export async function recordBlobSource(root: string, digest: Digest, registry: string, repository: string): Promise<void> {
  const file = path.join(dir(root), digest.slice('sha256:'.length));
  const line = `${registry}/${repository}`;
  const known = await blobSources(root, digest);
  if (known.includes(line)) return;
  await fs.mkdir(dir(root), { recursive: true });
  await fs.appendFile(file, `${line}\n`);
}

export async function blobSources(root: string, digest: Digest): Promise<string[]> {
  try {
    const text = await fs.readFile(path.join(dir(root), digest.slice('sha256:'.length)), 'utf8');
    return text.split('\n').filter((l) => l.length > 0 && l.length < 512);
  } catch {
    return [];
  }
}

/** Repositories on `registry` that had `digest` (for cross-repository mounts). */
export async function mountCandidates(root: string, digest: Digest, registry: string): Promise<string[]> {
  const prefix = `${registry}/`;
  return (await blobSources(root, digest)).filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
}
