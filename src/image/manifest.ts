/**
 * Parsing and validation of manifests, indexes and image configs (OCI, and Docker schema2 when reading).
 * Untrusted JSON: sizes are capped, digests checked against the strict grammar, and a document that is
 * both a manifest and an index (CVE-2021-41190) is rejected.
 */
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { isDigest } from './digest.js';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from './types.js';

export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 8 << 20;

export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
export const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);
export const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.DockerLayer,
  MediaType.DockerLayerGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export function isManifestType(mt: string | undefined): boolean {
  return mt !== undefined && MANIFEST_TYPES.has(mt);
}
export function isIndexType(mt: string | undefined): boolean {
  return mt !== undefined && INDEX_TYPES.has(mt);
}
export function isGzipLayerType(mt: string): boolean {
  return mt.endsWith('+gzip') || mt.endsWith('.tar.gzip');
}

function bad(what: string, msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid ${what}: ${msg}`, { code: 'IMAGE_INVALID_MANIFEST' });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDescriptor(v: unknown, what = 'descriptor'): Descriptor {
  if (!isObject(v)) throw bad(what, 'not an object');
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw bad(what, 'missing mediaType');
  if (!isDigest(digest)) throw bad(what, `bad digest ${JSON.stringify(digest)}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(what, `bad size ${JSON.stringify(size)}`);
  const d: Descriptor = { mediaType, digest, size };
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === 'string');
  if (isObject(v.annotations)) d.annotations = stringMap(v.annotations);
  if (isObject(v.platform)) d.platform = v.platform as unknown as Platform;
  return d;
}

function stringMap(v: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function parseJson(buf: Uint8Array | string, what: string, max: number): Record<string, unknown> {
  const len = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.length;
  if (len > max) throw bad(what, `${len} bytes is more than the ${max} allowed`);
  let v: unknown;
  try {
    v = JSON.parse(typeof buf === 'string' ? buf : Buffer.from(buf).toString('utf8'));
  } catch (err) {
    throw bad(what, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(v)) throw bad(what, 'not a JSON object');
  return v;
}

export type ParsedTarget = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: Index };

/**
 * Parse a manifest or index. `mediaType` is what the descriptor (or HTTP header) said; the document's own
 * `mediaType`, when present, must agree, and a document may not carry both `manifests` and `layers`.
 */
export function parseManifestOrIndex(buf: Uint8Array | string, mediaType?: string): ParsedTarget {
  const v = parseJson(buf, 'manifest', MAX_MANIFEST_BYTES);
  if (v.schemaVersion !== 2) throw bad('manifest', `unsupported schemaVersion ${JSON.stringify(v.schemaVersion)}`);
  const own = typeof v.mediaType === 'string' ? v.mediaType : undefined;
  if (own !== undefined && mediaType !== undefined && own !== mediaType) {
    throw bad('manifest', `mediaType ${own} does not match the descriptor's ${mediaType}`);
  }
  const hasManifests = 'manifests' in v;
  const hasLayers = 'layers' in v || 'config' in v;
  if (hasManifests && hasLayers) throw bad('manifest', 'document has both "manifests" and "layers"/"config"');
  const mt = own ?? mediaType;
  const wantIndex = mt !== undefined ? isIndexType(mt) : hasManifests;
  if (mt !== undefined && !isIndexType(mt) && !isManifestType(mt)) throw bad('manifest', `unsupported mediaType ${mt}`);
  if (wantIndex) {
    if (!Array.isArray(v.manifests)) throw bad('index', 'missing "manifests"');
    const index: Index = { schemaVersion: 2, manifests: v.manifests.map((m) => parseDescriptor(m, 'index entry')) };
    if (own) index.mediaType = own;
    if (isObject(v.annotations)) index.annotations = stringMap(v.annotations);
    return { kind: 'index', index };
  }
  if (!Array.isArray(v.layers)) throw bad('manifest', 'missing "layers"');
  const manifest: Manifest = {
    schemaVersion: 2,
    config: parseDescriptor(v.config, 'config descriptor'),
    layers: v.layers.map((l) => parseDescriptor(l, 'layer descriptor')),
  };
  if (own) manifest.mediaType = own;
  if (isObject(v.annotations)) manifest.annotations = stringMap(v.annotations);
  return { kind: 'manifest', manifest };
}

export function parseImageConfig(buf: Uint8Array | string): ImageConfig {
  const v = parseJson(buf, 'image config', MAX_CONFIG_BYTES);
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) throw bad('image config', 'missing rootfs.diff_ids');
  for (const d of rootfs.diff_ids) if (!isDigest(d)) throw bad('image config', `bad diff_id ${JSON.stringify(d)}`);
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string') {
    throw bad('image config', 'missing architecture or os');
  }
  return v as unknown as ImageConfig;
}

/** The Go architecture name of this machine, as OCI platforms spell it. */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { architecture: archMap[process.arch] ?? process.arch, os: 'linux' };
}

/** Pick the manifest of an index for a platform (default: this machine), falling back to the first. */
export function selectManifest(index: Index, platform: Platform = hostPlatform()): Descriptor | undefined {
  const candidates = index.manifests.filter((m) => isManifestType(m.mediaType) || m.mediaType === undefined);
  const match = candidates.find(
    (m) => m.platform && m.platform.os === platform.os && m.platform.architecture === platform.architecture,
  );
  return match ?? candidates.find((m) => !m.platform || m.platform.os !== 'unknown') ?? candidates[0];
}

/** Canonical JSON bytes kiln writes for manifests and configs (stable key order as given). */
export function jsonBytes(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}
