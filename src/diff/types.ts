import type { Descriptor, Digest } from '../image/types.js';
import type { TarLimits } from './tar-reader.js';

/** How a layer blob is written. */
export interface DiffOptions {
  /** 'gzip' (default) or 'none' (uncompressed tar). */
  compression?: 'gzip' | 'none';
  /** gzip level 1-9 (default 6). */
  level?: number;
  /** Media types to label the blob with: 'oci' (default) or 'docker' (schema2). */
  mediaTypes?: 'oci' | 'docker';
  /**
   * Clamp every mtime to this many seconds since the epoch. Default: $SOURCE_DATE_EPOCH when it
   * is set to an integer, else none (mtimes are written as whole seconds).
   */
  sourceDateEpoch?: number;
  /** Parallel gzip tuning: block size (default 1 MiB) and blocks in flight (default cores + 1). */
  blockSize?: number;
  concurrency?: number;
  /** Store 1 MiB blocks whose samples do not compress rather than deflate them (default true). */
  storeIncompressible?: boolean;
}

/** A layer written into the content store. */
export interface LayerResult {
  /** The blob: media type, digest and size of the (compressed) bytes in the store. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the image config's rootfs.diff_ids entry. */
  diffID: Digest;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
}

export interface ApplyOptions {
  /** Caps on the layer (entries, path depth, header size, decompressed size). */
  limits?: Partial<TarLimits>;
  /** When given, the uncompressed digest must equal it (LAYER_DIFFID_MISMATCH otherwise). */
  expectedDiffID?: Digest;
  /**
   * Set owners (lchown) and create device nodes. Default: true when running as root. Without it,
   * files belong to the current user and device nodes are skipped (counted in `skipped`).
   */
  sameOwner?: boolean;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar, as read. */
  diffID: Digest;
  /** Bytes of the uncompressed tar. */
  size: number;
  compression: 'gzip' | 'zstd' | 'none';
  entries: number;
  /** Entries that could not be created here (device nodes without root), by path. */
  skipped: string[];
}
