import { createHash } from 'node:crypto';
import type { CacheKey } from '../cache/types.js';

/** JSON with sorted object keys and no whitespace: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The digest of a value's canonical JSON. */
export function digestOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/**
 * A vertex's cache key, as BuildKit builds it: the op's own key material (definition plus any
 * content it selects) combined with the cache keys of its inputs, in order. Inputs enter by
 * key, not by vertex digest, so a changed context file changes every key downstream of the COPY
 * that reads it, and nothing else.
 */
export function computeCacheKey(opDigest: string, inputKeys: readonly CacheKey[]): CacheKey {
  return digestOf({ v: 1, op: opDigest, inputs: inputKeys });
}

/** One file as COPY/ADD selects it: what counts for the key (not mtime). */
export interface SelectedFile {
  /** Path relative to the source root, `/`-separated. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (and setuid/setgid/sticky) as they will be copied. */
  mode: number;
  uid: number;
  gid: number;
  /** sha256 of the content for files, of the target for symlinks, '' for directories. */
  digest: string;
}

/**
 * The content digest of exactly the selected files: path, type, mode, owner and content digest
 * of each, in path order. mtime never enters, so touching a file does not invalidate a COPY.
 */
export function selectedFilesDigest(files: readonly SelectedFile[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const h = createHash('sha256');
  for (const f of sorted) h.update(`${f.path}\0${f.type}\0${f.mode.toString(8)}\0${f.uid}:${f.gid}\0${f.digest}\n`);
  return `sha256:${h.digest('hex')}`;
}
