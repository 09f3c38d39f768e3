import path from 'node:path';
import type { LocalContentStore } from '../content/local.js';
import type { ImageStore } from '../image/store.js';
import { openStores, type Stores } from '../store/index.js';
import { createSnapshotter } from '../snapshot/index.js';
import type { Snapshotter } from '../snapshot/types.js';
import { ContainerStore } from './store.js';
import { VolumeStore } from './volumes.js';

/** The stores a container command works with, opened on one root. The snapshotter is probed lazily. */
export class ContainerEngine {
  private snap?: Promise<Snapshotter>;
  readonly containers: ContainerStore;
  readonly volumes: VolumeStore;

  readonly root: string;
  readonly content: LocalContentStore;
  readonly images: ImageStore;

  private constructor(readonly stores: Stores) {
    this.root = stores.root;
    this.content = stores.content;
    this.images = stores.images;
    this.containers = new ContainerStore(this.root);
    this.volumes = new VolumeStore(this.root);
  }

  static async open(root: string): Promise<ContainerEngine> {
    return new ContainerEngine(await openStores(path.resolve(root)));
  }

  snapshotter(): Promise<Snapshotter> {
    this.snap ??= createSnapshotter(this.root);
    return this.snap;
  }
}
