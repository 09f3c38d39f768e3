import type { Stats } from 'node:fs';
import type { ContentStore } from '../../content/types.js';
import type { ContextSource } from '../../context/source.js';
import type { DiffOptions } from '../../diff/types.js';
import type { Executor } from '../../executor/types.js';
import type { Vertex } from '../../graph/types.js';
import type { ImageStore } from '../../image/store.js';
import type { Snapshotter } from '../../snapshot/types.js';

/** A `--secret id=ID,src=FILE|env=VAR` value, read by the CLI; never stored, logged or hashed. */
export interface SecretValue {
  id: string;
  value: Buffer;
}

/**
 * Everything the op handlers need from the rest of kiln; wired by the composition root
 * (src/build.ts). The handlers import only types from other stages.
 */
export interface WorkerDeps {
  root: string;
  content: ContentStore;
  snapshotter: Snapshotter;
  images: ImageStore;
  /** Runs RUN steps; absent → RUN fails with a clear error. */
  executor?: Executor;
  /** Every vertex of the graph by digest (to see what an input is). */
  vertices: ReadonlyMap<string, Vertex>;
  /** Local sources by name (`context` and `--build-context NAME=DIR`), opened with their .dockerignore. */
  contexts: Record<string, () => Promise<ContextSource>>;
  /** Layer options (compression, SOURCE_DATE_EPOCH clamp). */
  diff: DiffOptions;
  secrets: ReadonlyMap<string, SecretValue>;
  /** Why pulling a missing base image failed (the build pulls before converting), for the error. */
  pullError?: (ref: string) => string | undefined;
  /** Digest of a context file for keys (by default ContextSource's cached hashing). */
  hashFile?: (abs: string, st: Stats) => Promise<string>;
}

export const STEP_SNAPSHOT_PREFIX = 'build-';
