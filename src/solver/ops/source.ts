import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KilnError, NotFoundError, isNotFound } from '../../diagnostics/errors.js';
import { withSnapshotDir } from '../../snapshot/mount.js';
import { checkChecksum, fetchToFile, type Fetched } from './http.js';
import { EMPTY_RESULT, commitStep, stepSnapshotName, withActive } from './snapshots.js';
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
    try {
      return await this.deps.images.resolve(ref, platform);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const short = ref.replace(/^docker\.io\/(library\/)?/, '');
      const why = this.deps.pullError?.(ref);
      throw new NotFoundError(`base image "${short}" is not in the local image store${why ? ` and pulling it failed: ${why}` : ''}`, {
        code: 'SOLVE_IMAGE_NOT_FOUND',
        hint: `get it with "kiln pull ${short}", "kiln load -i FILE" or "kiln import ROOTFS.tar ${short}"`,
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
      case 'http': {
        if (src.checksum) return { digest: digestOf({ kind: 'http', url: src.url, filename: src.filename, checksum: src.checksum }), components: { [`url:${src.url}`]: src.checksum } };
        // BuildKit fetches to compute the key: the content decides whether later steps are cached
        const f = await this.fetch(src.url, ctx.signal);
        return { digest: digestOf({ kind: 'http', url: src.url, filename: src.filename, content: f.digest }), components: { [`url:${src.url}`]: f.digest } };
      }
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
      case 'http': {
        const f = await this.fetch(src.url, ctx.signal);
        if (src.checksum) checkChecksum(src.url, src.checksum, f.digest);
        return withActive(this.deps, 'http', EMPTY_RESULT, async (key, mounts) => {
          await withSnapshotDir(mounts, async (dir) => {
            const target = path.join(dir, path.posix.basename(`/${src.filename}`) || 'download');
            await fs.copyFile(f.file, target);
            await fs.chmod(target, 0o600);
            if (f.mtime) await fs.utimes(target, f.mtime, f.mtime);
          });
          return commitStep(this.deps, key, stepSnapshotName(ctx.key), EMPTY_RESULT);
        });
      }
      case 'git':
        throw new KilnError('SOLVE_UNSUPPORTED', `ADD of a git repository (${src.remote}) is not supported yet`);
    }
  }

  private readonly downloads = new Map<string, Promise<Fetched>>();

  /** One download per URL and build, shared by the key and the exec. */
  private fetch(url: string, signal: AbortSignal): Promise<Fetched> {
    let p = this.downloads.get(url);
    if (!p) {
      p = fetchToFile(url, signal);
      this.downloads.set(url, p);
    }
    return p;
  }

  /** Remove downloaded temp files (end of build). */
  async close(): Promise<void> {
    for (const p of this.downloads.values()) {
      const f = await p.catch(() => undefined);
      if (f) await fs.rm(f.file, { force: true });
    }
  }
}
