import type { ContentStore } from '../content/types.js';
import type { Descriptor, Digest, Platform } from '../image/types.js';
import type { RegistryClientOptions } from './client.js';

export type { RegistryReference } from './reference.js';

/**
 * What the registry code needs from the image store: names (normalised, `docker.io/library/bb:latest`)
 * pointing at a manifest or index in the content store.
 */
export interface ImageNames {
  get(name: string): Promise<Descriptor | undefined>;
  set(name: string, target: Descriptor): Promise<void>;
}

/** Progress of a pull or push, per blob, for docker-like rendering. */
export type TransferEvent =
  | { type: 'resolved'; name: string; digest: Digest; platform?: Platform }
  | {
      type: 'blob';
      digest: Digest;
      kind: 'layer' | 'config' | 'manifest';
      status: 'waiting' | 'exists' | 'downloading' | 'downloaded' | 'uploading' | 'pushed' | 'mounted' | 'failed';
      current?: number;
      total: number;
    }
  | { type: 'done'; name: string; digest: Digest; downloaded: boolean };

export interface TransferOptions extends Omit<RegistryClientOptions, 'root'> {
  /** kiln store root. */
  root: string;
  /** Content store to use (default: the one under `root`). */
  content?: ContentStore;
  /** Image names to update (default: the image store under `root`). */
  images?: ImageNames;
  onEvent?: (e: TransferEvent) => void;
  /** Parallel blob transfers (default 3 for pulls, 5 for pushes, as Docker). */
  concurrency?: number;
}

export interface PullOptions extends TransferOptions {
  /** Platform to select from an index (default: the host's, linux/amd64 on x86-64). */
  platform?: Platform | string;
  /**
   * Refuse a single-platform image whose config names another platform (`docker pull --platform`
   * does). Off by default: a build's FROM only warns about that, as BuildKit does.
   */
  requirePlatform?: boolean;
}

export interface PullResult {
  /** Normalised name the image is stored under. */
  name: string;
  /** Digest of what the reference resolved to in the registry (the index, for multi-platform images). */
  digest: Digest;
  /** The platform manifest now named `name` in the image store. */
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** True when any blob was downloaded (Docker's "Downloaded newer image"). */
  downloaded: boolean;
}

export interface PushOptions extends TransferOptions {
  /** Repositories on the same registry to try cross-repository mounts from. */
  mountFrom?: string[];
}

export interface PushResult {
  name: string;
  digest: Digest;
  size: number;
}
