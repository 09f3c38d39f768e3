/**
 * The `--cache-to/--cache-from type=local` directory: an OCI image layout holding one manifest
 * whose config is kiln's cache-record list and whose layers are every layer blob the records use.
 * Being a plain OCI layout, skopeo/oras can copy it, and the registry variant pushes the same
 * manifest (BuildKit's `image-manifest=true` shape).
 *
 *   DIR/oci-layout                {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json                one manifest, ref.name "latest" (or the `tag`)
 *   DIR/blobs/sha256/<hex>        layers, the records config, the manifest
 */
import path from 'node:path';
import type { Digest } from '../image/types.js';

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.kiln.cache.config.v1+json';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.kiln.cache.v1';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Index and config JSON beyond this size are refused (untrusted input). */
export const MAX_CACHE_JSON_BYTES = 64 * 1024 * 1024;

export function blobPath(dir: string, digest: Digest): string {
  // digest was validated by isDigest/parseDigest: exactly sha256:<64 hex>, so no traversal
  return path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}
