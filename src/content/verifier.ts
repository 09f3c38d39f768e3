/**
 * Incremental sha256 + size verification on top of ssri's integrity stream.
 * Used both while ingesting (compute or check the digest) and while reading (detect changed blobs).
 */
import ssri from 'ssri';
import { digestToIntegrity, integrityToDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';

export type VerifyFailure = 'digest' | 'size';

export class VerifyError extends Error {
  constructor(
    readonly kind: VerifyFailure,
    readonly actualSize: number,
    message: string,
  ) {
    super(message);
  }
}

interface SsriStream {
  write(chunk: Uint8Array): boolean;
  end(): void;
  on(ev: string, handler: (arg: unknown) => void): unknown;
  size: number;
}

export class Verifier {
  private readonly stream: SsriStream;
  private result: Promise<Digest>;
  private bytes = 0;

  constructor(expected: { digest?: Digest | undefined; size?: number | undefined } = {}) {
    const opts: NonNullable<Parameters<typeof ssri.integrityStream>[0]> = { algorithms: ['sha256'], single: true };
    if (expected.digest) opts.integrity = digestToIntegrity(expected.digest);
    if (typeof expected.size === 'number') opts.size = expected.size;
    // @types/ssri types the stream as a node Transform; it is a Minipass stream.
    this.stream = ssri.integrityStream(opts) as unknown as SsriStream;
    // Discard the pass-through output: we only want the hash (keeps Minipass from buffering).
    this.stream.on('data', () => {});
    this.result = new Promise<Digest>((resolve, reject) => {
      this.stream.on('error', (e) => {
        const err = e as { code?: string; message?: string };
        reject(
          new VerifyError(
            err.code === 'EBADSIZE' ? 'size' : 'digest',
            this.bytes,
            err.message ?? String(e),
          ),
        );
      });
      this.stream.on('integrity', (sri) => {
        try {
          resolve(integrityToDigest(String(sri)));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    // Avoid an unhandled rejection when the caller aborts before finish().
    this.result.catch(() => {});
  }

  get size(): number {
    return this.bytes;
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.stream.write(chunk);
  }

  /** End the stream; resolves with the digest, or rejects with VerifyError. */
  finish(): Promise<Digest> {
    this.stream.end();
    return this.result;
  }
}
