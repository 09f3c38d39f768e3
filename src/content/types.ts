import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '../image/types.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * A content-addressable blob store (containerd's content store, smaller).
 * Blobs live at `<root>/content/blobs/sha256/<hex>`, read-only once written.
 */
export interface ContentStore {
  /**
   * Ingest a stream. Size and digest are verified while streaming when `expected` is given;
   * a mismatch fails with CONTENT_DIGEST_MISMATCH / CONTENT_SIZE_MISMATCH and stores nothing.
   * A blob that already exists is success (the stream is drained).
   */
  put(source: Readable | Uint8Array | string /* the content itself, utf8 */, expected?: Partial<Pick<Descriptor, 'digest' | 'size'>>): Promise<BlobInfo>;
  /** A verified read stream: it errors (CONTENT_CORRUPT) if the bytes on disk do not hash to `digest`. */
  get(digest: Digest): Readable;
  /** The whole blob, verified. */
  readBuffer(digest: Digest): Promise<Buffer>;
  has(digest: Digest): Promise<boolean>;
  /** Size of a stored blob; throws NotFoundError. */
  stat(digest: Digest): Promise<BlobInfo>;
  delete(digest: Digest): Promise<void>;
  walk(): AsyncIterable<BlobInfo>;
  /** Path of a stored blob, for zero-copy readers that verify by other means. */
  path(digest: Digest): string;
  /**
   * Optional: digests other live processes have written and may not have referenced yet; GC keeps them.
   */
  livePins?(): Promise<Digest[]>;
}
