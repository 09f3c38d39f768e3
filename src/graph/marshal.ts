/**
 * Canonical encoding and vertex digests. The encoding is JSON with object keys sorted
 * (by UTF-16 code units), `undefined` members dropped, and no whitespace, so the same op gives
 * the same bytes, and the same digest, on every run and machine.
 */
import { createHash } from 'node:crypto';
import type { Op, VertexDigest } from './types.js';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('cannot encode a non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** sha256 of the canonical encoding of the op and its inputs' digests. */
export function vertexDigest(op: Op, inputs: readonly VertexDigest[]): VertexDigest {
  return `sha256:${createHash('sha256').update(canonicalJson({ inputs, op })).digest('hex')}`;
}
