import type { Digest } from '../image/types.js';
import { RegistryError } from './errors.js';

/**
 * Strict per-algorithm digest grammar (SECURITY-NOTES E.29): checked before a digest is
 * put in a URL or handed to the content store. Only sha256 is accepted as kiln stores
 * nothing else; sha512 is recognised so the error says what is wrong.
 */
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const SHA512 = /^sha512:[a-f0-9]{128}$/;

export function checkDigest(value: unknown, what = 'digest'): Digest {
  if (typeof value === 'string' && SHA256.test(value)) return value as Digest;
  if (typeof value === 'string' && SHA512.test(value)) {
    throw new RegistryError('REGISTRY_BAD_DIGEST', `${what} "${value}" uses sha512, which kiln does not store`);
  }
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value) : String(value);
  throw new RegistryError('REGISTRY_BAD_DIGEST', `invalid ${what} ${shown}: expected sha256:<64 lowercase hex>`);
}

export const isDigest = (value: unknown): value is Digest => typeof value === 'string' && SHA256.test(value);
