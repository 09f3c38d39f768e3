import { createHash } from 'node:crypto';
import { MediaType, type Descriptor, type Digest, type Index, type Manifest } from '../image/types.js';
import { checkDigest } from './digest.js';
import { RegistryError } from './errors.js';

/** Manifests above this size are refused before they are read (SECURITY-NOTES E.30). */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;

export const MANIFEST_MEDIA_TYPES = [MediaType.OciManifest, MediaType.DockerManifest] as const;
export const INDEX_MEDIA_TYPES = [MediaType.OciIndex, MediaType.DockerManifestList] as const;
export const ACCEPT_MANIFESTS = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(', ');

const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

export const isIndexType = (t: string): boolean => (INDEX_MEDIA_TYPES as readonly string[]).includes(t);
export const isManifestType = (t: string): boolean => (MANIFEST_MEDIA_TYPES as readonly string[]).includes(t);

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: Manifest }
  | { kind: 'index'; mediaType: string; index: Index };

export const sha256Digest = (bytes: Uint8Array): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw bad(`${where} is not an object`);
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || o.mediaType.length === 0 || o.mediaType.length > 255) {
    throw bad(`${where}.mediaType is missing or invalid`);
  }
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(`${where}.size must be a non-negative integer`);
  let digest: Digest;
  try {
    digest = checkDigest(o.digest, `${where}.digest`);
  } catch (err) {
    throw bad((err as Error).message);
  }
  return { ...(o as unknown as Descriptor), digest };
}

const bad = (msg: string): RegistryError => new RegistryError('REGISTRY_BAD_MANIFEST', `invalid manifest: ${msg}`);

/** The media type from a Content-Type header, without parameters; '' when absent. */
export const headerMediaType = (value: string | string[] | undefined): string =>
  (Array.isArray(value) ? value[0] ?? '' : value ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * Parse and check a manifest or index (SECURITY-NOTES E.28): the body's `mediaType` must agree
 * with the Content-Type header (and the descriptor that pointed at it), a manifest must not carry
 * `manifests` and an index must not carry `config`/`layers`, every descriptor's digest is checked.
 */
export function parseManifest(bytes: Buffer, contentType: string, expectedMediaType?: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.schemaVersion === 1 || SCHEMA1.has(contentType)) {
    throw new RegistryError('REGISTRY_BAD_MANIFEST', 'Docker schema 1 manifests are not supported', { hint: 'push the image again with a current client' });
  }
  if (o.schemaVersion !== 2) throw bad('schemaVersion must be 2');
  const bodyType = typeof o.mediaType === 'string' ? o.mediaType : undefined;
  const known = (t: string | undefined): t is string => !!t && (isIndexType(t) || isManifestType(t));
  if (o.mediaType !== undefined && typeof o.mediaType !== 'string') throw bad('mediaType must be a string');
  if (known(contentType) && bodyType !== undefined && bodyType !== contentType) {
    throw new RegistryError(
      'REGISTRY_MEDIATYPE_MISMATCH',
      `manifest says mediaType "${bodyType}" but the registry sent Content-Type "${contentType}"`,
    );
  }
  if (expectedMediaType && known(expectedMediaType) && bodyType !== undefined && bodyType !== expectedMediaType) {
    throw new RegistryError('REGISTRY_MEDIATYPE_MISMATCH', `manifest says mediaType "${bodyType}" but its descriptor says "${expectedMediaType}"`);
  }
  const hasManifests = 'manifests' in o;
  const hasImageFields = 'config' in o || 'layers' in o;
  if (hasManifests && hasImageFields) throw bad('a document with both "manifests" and "config"/"layers" is ambiguous');
  const mediaType =
    bodyType ?? (known(contentType) ? contentType : known(expectedMediaType) ? expectedMediaType : hasManifests ? MediaType.OciIndex : MediaType.OciManifest);
  if (isIndexType(mediaType)) {
    if (hasImageFields) throw bad(`an index (${mediaType}) must not have "config" or "layers"`);
    if (!Array.isArray(o.manifests)) throw bad('"manifests" must be an array');
    const manifests = o.manifests.map((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { kind: 'index', mediaType, index: { ...(o as unknown as Index), manifests } };
  }
  if (isManifestType(mediaType)) {
    if (hasManifests) throw bad(`an image manifest (${mediaType}) must not have "manifests"`);
    if (!Array.isArray(o.layers)) throw bad('"layers" must be an array');
    if (o.layers.length > 10_000) throw bad('more than 10000 layers');
    const config = checkDescriptor(o.config, 'config');
    const layers = o.layers.map((d, i) => checkDescriptor(d, `layers[${i}]`));
    return { kind: 'manifest', mediaType, manifest: { ...(o as unknown as Manifest), config, layers } };
  }
  throw new RegistryError('REGISTRY_BAD_MANIFEST', `unsupported manifest media type "${mediaType}"`);
}
