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
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined ? 'null' : canonicalJson(v);
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** sha256 of the canonical encoding of the op and its inputs' digests. */
export function vertexDigest(op: Op, inputs: readonly VertexDigest[]): VertexDigest {
  return `sha256:${createHash('sha256').update(canonicalJson({ inputs, op })).digest('hex')}`;
}
