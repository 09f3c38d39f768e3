/**
 * Canonical encoding and vertex digests. The encoding is JSON with object keys sorted
 * (by UTF-16 code units), `undefined` members dropped, and no whitespace, so the same op gives
 * the same bytes, and the same digest, on every run and machine.
 *
 * Every vertex is encoded once, so this is on the hot path of `convert` (a third of its time
 * before it was tuned): key orders are cached per object shape and the hash is one-shot.
 */
import crypto from 'node:crypto';
import type { Op, VertexDigest } from './types.js';

/**
 * Sorted keys (each with its encoded `"key":` prefix) per key list as `Object.keys` returns
 * it. Ops come in a few dozen shapes, so sorting and re-encoding the same keys for every
 * vertex was wasted work. The map key joins the names with NUL; since a name may itself
 * contain NUL (keys can come from Dockerfile text), a hit is only used when its names match
 * one by one. Bounded, so odd input in a long-running process cannot grow it without end.
 */
interface KeyOrder {
  readonly own: readonly string[];
  readonly sorted: readonly (readonly [key: string, prefix: string])[];
}
const keyOrders = new Map<string, KeyOrder>();
const MAX_KEY_ORDERS = 1024;

function keyOrder(own: string[]): KeyOrder['sorted'] {
  const sig = own.join('\0');
  const hit = keyOrders.get(sig);
  if (hit && hit.own.length === own.length && hit.own.every((k, i) => k === own[i])) return hit.sorted;
  const sorted = [...own].sort().map((k) => [k, `${JSON.stringify(k)}:`] as const);
  if (keyOrders.size < MAX_KEY_ORDERS) keyOrders.set(sig, { own, sorted });
  return sorted;
}

export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('cannot encode a non-finite number');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      return JSON.stringify(value) ?? 'null';
  }
  if (value === null) return 'null';
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
  let out = '{';
  let first = true;
  for (const [k, prefix] of keyOrder(Object.keys(obj))) {
    const v = obj[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += prefix + canonicalJson(v);
  }
  return `${out}}`;
}

/**
 * One-shot sha256 (`crypto.hash`, Node >= 20.12) is about twice as fast as createHash for
 * inputs this small; older Node 20 releases fall back to createHash.
 */
const sha256Hex: (data: string) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** sha256 of the canonical encoding of the op and its inputs' digests. */
export function vertexDigest(op: Op, inputs: readonly VertexDigest[]): VertexDigest {
  return `sha256:${sha256Hex(canonicalJson({ inputs, op }))}`;
}
