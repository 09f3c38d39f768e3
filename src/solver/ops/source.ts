import { KilnError, NotFoundError, isNotFound } from '../../diagnostics/errors.js';
import type { SourceOp, Vertex } from '../../graph/types.js';
import type { ResolvedImage } from '../../image/store.js';
import type { Platform } from '../../image/types.js';
import { unpackImage } from '../../image/unpack.js';
import type { StepResult } from '../../cache/types.js';
import { digestOf } from '../cache-key.js';
import type { CacheMap, OpContext, OpHandler } from '../types.js';
import type { WorkerDeps } from './deps.js';

type SourceVertex = Vertex & { op: SourceOp };

export function parsePlatform(p: string): Platform {
  const [os = 'linux', architecture = 'amd64', variant] = p.split('/');
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * FROM images and the build context (BuildKit's source ops).
 * - image: the key is the image's config digest (its ID), so retagging `busybox:latest` to a new
 *   image changes every key built on it; the result is the image's layers unpacked into
 *   chain-ID snapshots.
 * - local: never cached itself (BuildKit always re-reads the context); what COPY selects from it
 *   enters the COPY's key by content.
 */
export class SourceHandler implements OpHandler<Vertex> {
  private readonly resolved = new Map<string, Promise<ResolvedImage>>();

  constructor(private readonly deps: WorkerDeps) {}

  private resolveImage(ref: string, platform: string): Promise<ResolvedImage> {
    const k = `${ref}@${platform}`;
    let p = this.resolved.get(k);
    if (!p) {
      p = this.doResolve(ref, parsePlatform(platform));
      this.resolved.set(k, p);
    }
    return p;
  }

  private async doResolve(ref: string, platform: Platform): Promise<ResolvedImage> {
    const { images, pull } = this.deps;
    if (this.deps.alwaysPull && pull) await pull(ref, platform);
    try {
      return await images.resolve(ref, platform);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (pull && !this.deps.alwaysPull) {
        await pull(ref, platform);
        return images.resolve(ref, platform);
      }
      const short = ref.replace(/^docker\.io\/(library\/)?/, '');
      throw new NotFoundError(`base image "${short}" is not in the local image store`, {
        code: 'SOLVE_IMAGE_NOT_FOUND',
        hint: `get it first with "kiln pull ${short}", "kiln load -i FILE" or "kiln import ROOTFS.tar ${short}"`,
        cause: err,
      });
    }
  }

  async cacheMap(ctx: OpContext<Vertex>): Promise<CacheMap> {
    const src = (ctx.vertex as SourceVertex).op.source;
    switch (src.kind) {
      case 'image': {
        const img = await this.resolveImage(src.ref, src.platform);
        return { digest: digestOf({ kind: 'image', id: img.id, platform: src.platform }), components: { image: img.id } };
      }
      case 'local':
        return {
          digest: digestOf({ kind: 'local', name: src.name }),
          noCache: true,
          noCacheReason: 'the build context is read on every build (COPY keys use its content)',
          silentMiss: true,
        };
      case 'http':
        return { digest: digestOf(src), ...(src.checksum ? {} : { noCache: true, noCacheReason: 'ADD of a URL without --checksum is always fetched' }) };
      case 'git':
        throw new KilnError('SOLVE_UNSUPPORTED', `ADD of a git repository (${src.remote}) is not supported yet`, {
          hint: 'clone it into the build context and COPY it',
        });
    }
  }

  async exec(ctx: OpContext<Vertex>): Promise<StepResult> {
    const src = (ctx.vertex as SourceVertex).op.source;
    switch (src.kind) {
      case 'image': {
        const img = await this.resolveImage(src.ref, src.platform);
        const snapshot = await unpackImage({ content: this.deps.content, snapshotter: this.deps.snapshotter, root: this.deps.root }, img);
        const diffIds = img.config.rootfs.diff_ids;
        return {
          snapshot: snapshot ?? null,
          layers: img.manifest.layers.map((descriptor, i) => ({ descriptor, diffID: diffIds[i]! })),
          meta: { imageId: img.id },
        };
      }
      case 'local':
        return { snapshot: null, layers: [], meta: { local: src.name } };
      case 'http':
        throw new KilnError('SOLVE_UNSUPPORTED', `ADD of a URL (${src.url}) is not supported yet`);
      case 'git':
        throw new KilnError('SOLVE_UNSUPPORTED', `ADD of a git repository (${src.remote}) is not supported yet`);
    }
  }
}
