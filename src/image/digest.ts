/**
 * Digest helpers. A `Digest` is `sha256:<64 lowercase hex>`, checked by `parseDigest` before it is ever
 * used as a file name, a map key from untrusted input, or in a reference.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import type { Digest } from './types.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;

/** True when `s` is a valid sha256 digest string (strict grammar). */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Validate a digest string; throws InvalidArgumentError (IMAGE_INVALID_DIGEST) otherwise. */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) {
    const shown = typeof s === 'string' ? JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s) : String(s);
    let hint: string | undefined;
    if (typeof s === 'string') {
      if (/^sha256:[A-Fa-f0-9]{64}$/.test(s)) hint = 'digests use lowercase hex';
      else if (HEX64_RE.test(s)) hint = `did you mean "sha256:${s}"?`;
      else if (/^[a-z0-9]+:/.test(s) && !s.startsWith('sha256:')) hint = 'only sha256 digests are supported';
    }
    throw new InvalidArgumentError(`invalid digest ${shown}: expected sha256:<64 lowercase hex digits>`, {
      code: 'IMAGE_INVALID_DIGEST',
      ...(hint ? { hint } : {}),
    });
  }
  return s;
}

/** `sha256:<hex>` from 64 hex digits (validated). */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** The 64 hex digits of a digest. */
export function digestHex(d: Digest): string {
  return d.slice(7);
}

/** The sha256 digest of some bytes. */
export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** Docker's short image ID: the first 12 hex digits. */
export function shortId(d: Digest | string): string {
  const hex = d.startsWith('sha256:') ? d.slice(7) : d;
  return hex.slice(0, 12);
}

/** Convert between a digest and the SRI form ssri uses (`sha256-<base64>`). */
export function digestToIntegrity(d: Digest): string {
  return `sha256-${Buffer.from(digestHex(d), 'hex').toString('base64')}`;
}

export function integrityToDigest(sri: string): Digest {
  const m = /^sha256-([A-Za-z0-9+/]+=*)$/.exec(sri.trim());
  if (!m) throw new InvalidArgumentError(`not a sha256 integrity string: ${sri}`, { code: 'IMAGE_INVALID_DIGEST' });
  return digestFromHex(Buffer.from(m[1]!, 'base64').toString('hex'));
}
