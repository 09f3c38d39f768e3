/**
 * The composition root of `kiln build` (BuildKit's worker): Dockerfile → graph → solve → image and
 * outputs. Everything concrete (stores, snapshotter, executor, op handlers, cache sources) is wired
 * here; the solver itself only sees the OpHandler and CacheStore seams.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { FileCacheStore, LayeredCacheStore } from './cache/record-store.js';
import { HistoryStore } from './cache/history-store.js';
import { LocalCacheImport } from './cache/import-local.js';
import { RegistryCacheImport, exportCacheRegistry } from './cache/registry-cache.js';
import { ImageCacheImport, openInlineCache, withInlineCache } from './cache/inline-cache.js';
import { exportCacheLocal, type ExportCacheResult } from './cache/export-local.js';
import { selectRecordsForExport, type CacheFromSpec, type CacheToSpec } from './cache/export-select.js';
import type { BlobCacheRecord, CacheRecord, CacheStore, LayerRef, StepResult } from './cache/types.js';
import type { ContentStore } from './content/types.js';
import { ContextSource } from './context/source.js';
import { readDockerignore } from './context/dockerignore.js';
import { KilnError, hasCode, isNotFound } from './diagnostics/errors.js';
import { applyTar } from './diff/apply.js';
import { treeChanges } from './diff/changes.js';
import { envSourceDateEpoch } from './diff/compare.js';
import { writeTar } from './diff/tar-writer.js';
import { parse } from './dockerfile/index.js';
import { createExecutor } from './executor/oci-executor.js';
import type { Executor } from './executor/types.js';
import { convertAst } from './graph/convert.js';
import type { ConvertOptions, ConvertResult, NamedContext, Vertex } from './graph/types.js';
import { saveImages } from './image/archive/save.js';
import { compressLayers, compressedManifest } from './image/compress-layers.js';
import type { ImageStore } from './image/store.js';
import type { Descriptor, Digest, HistoryEntry, ImageConfig, Platform } from './image/types.js';
import { createSnapshotter } from './snapshot/index.js';
import type { Snapshotter } from './snapshot/types.js';
import { createOpHandlers, createRestore, type SecretValue, type WorkerDeps } from './solver/ops/index.js';
import { resolveLayers, resolveRecords, writeBackLayers } from './solver/ops/layers.js';
import { withResultDir } from './solver/ops/snapshots.js';
import { Solver } from './solver/scheduler.js';
import { VertexError } from './solver/errors.js';
import { ExecFailedError } from './solver/ops/exec.js';
import { digestOf } from './solver/cache-key.js';
import type { ProgressEvent, ProgressListener, SolveOutput } from './solver/types.js';
import { openStores, type Stores } from './store/index.js';
import { createLease } from './store/leases.js';

export type OutputSpec =
  | { type: 'image'; names: string[]; /** also push each name to its registry (-o type=registry, --push) */ push?: boolean }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  | { type: 'oci' | 'docker'; dest: string; names: string[] };

export interface BuildOptions {
  root: string;
  /** The context directory (null: an empty context, e.g. a Dockerfile from stdin only). */
  contextDir: string | null;
  dockerfile: { text: string; name: string; path?: string };
  target?: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  platform?: string;
  noCache?: boolean;
  noCacheFilter?: string[];
  pull?: boolean;
  tags?: string[];
  outputs?: OutputSpec[];
  cacheFrom?: CacheFromSpec[];
  cacheTo?: CacheToSpec;
  secrets?: SecretValue[];
  buildContexts?: Record<string, NamedContext>;
  network?: 'default' | 'none' | 'host';
  jobs?: number;
  onEvent?: ProgressListener;
  signal?: AbortSignal;
  executor?: Executor;
  /** SOURCE_DATE_EPOCH (seconds); default from the environment. */
  sourceDateEpoch?: number;
}

export interface BuildResult {
  imageId?: Digest;
  manifest?: Descriptor;
  config: ImageConfig;
  layers: LayerRef[];
  convert: ConvertResult;
  solve?: SolveOutput;
  cacheExport?: ExportCacheResult;
  executed: number;
  cached: number;
}

/**
 * The final image config: diff_ids from the layers, history matched to layers (layer-making
 * entries in order; an entry without a layer is marked empty_layer), and times taken
 * from when each layer was made, so a build served from cache has the same config and image ID.
 * `fallback` (the build time, or SOURCE_DATE_EPOCH) is used only where nothing else is known.
 */
export function finalizeConfig(config: ImageConfig, chain: readonly LayerRef[], fallback: string, sde?: string): { config: ImageConfig; layers: LayerRef[] } {
  const history: HistoryEntry[] = (config.history ?? []).map((h) => ({ ...h }));
  const layers: LayerRef[] = [];
  let li = 0;
  let last: string | undefined;
  for (const h of history) {
    if (!h.empty_layer) {
      const l = chain[li++];
      if (!l) h.empty_layer = true;
      else layers.push(l); // an empty diff stays a layer: docker 20.10's BuildKit keeps them
      if (h.created === undefined) h.created = sde ?? l?.created ?? last ?? fallback;
    } else if (h.created === undefined) {
      h.created = sde ?? last ?? fallback;
    }
    last = h.created;
  }
  for (; li < chain.length; li++) {
    const l = chain[li]!;
    layers.push(l);
    history.push({ created: sde ?? l.created ?? fallback, created_by: 'kiln: layer without history', comment: 'buildkit.dockerfile.v0' });
  }
  const times = history.map((h) => h.created).filter((t): t is string => t !== undefined).sort();
  const created = sde ?? times.at(-1) ?? fallback;
  const out: ImageConfig = { ...config, created, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) } };
  if (history.length) out.history = history;
  return { config: out, layers };
}

async function contextOpener(dir: string, root: string, dockerfilePath: string | undefined, patterns: string[] | undefined): Promise<() => Promise<ContextSource>> {
  let p: Promise<ContextSource> | undefined;
  return () => (p ??= ContextSource.open(dir, { root, ...(patterns ? { ignore: patterns } : {}), ...(dockerfilePath ? { dockerfilePath } : {}) }));
}

/** Everything a build needs from one store root. */
interface Worker {
  images: ImageStore;
  deps: WorkerDeps;
  snapshotter: Snapshotter;
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const emit = (e: ProgressEvent): void => opts.onEvent?.(e);
  const now = Date.now;
  const sde = opts.sourceDateEpoch ?? envSourceDateEpoch();
  const created = new Date(sde !== undefined ? sde * 1000 : now()).toISOString();
  const sdeTime = sde !== undefined ? created : undefined;

  // 1. the Dockerfile and the graph
  const defDigest = digestOf({ internal: 'dockerfile', name: opts.dockerfile.name });
  const t0 = now();
  emit({ type: 'vertex.started', digest: defDigest, time: t0, name: `[internal] load build definition from ${path.basename(opts.dockerfile.name)}` });
  const ast = parse(opts.dockerfile.text, { file: opts.dockerfile.name });
  const { stores, snapshotter } = await openWorker(opts.root);
  const pullErrors = new Map<string, string>();
  const pulled = new Set<string>();
  const pull = async (ref: string, platform: Platform): Promise<boolean> => {
    if (pulled.has(ref)) return true;
    const pd = digestOf({ internal: 'pull', ref });
    const tp = now();
    emit({ type: 'vertex.started', digest: pd, time: tp, name: `[internal] pull ${ref}` });
    try {
      const { pullImage } = await import('./registry/pull.js');
      await pullImage(ref, { root: opts.root, platform, content: stores.content });
      pulled.add(ref);
      emit({ type: 'vertex.completed', digest: pd, time: now(), duration: now() - tp });
      return true;
    } catch (err) {
      pullErrors.set(ref, (err as Error).message);
      emit({ type: 'vertex.error', digest: pd, time: now(), canceled: false, error: (err as Error).message });
      return false;
    }
  };
  const convertOptions: ConvertOptions = {
    buildArgs: opts.buildArgs ?? {},
    // base image configs come from the local store; a missing one (or every one with --pull) is
    // pulled first, so its Env/Cmd/WorkingDir are known when the graph is made
    imageResolver: async (ref, platform) => {
      if (opts.pull) await pull(ref, platform);
      try {
        return (await stores.images.resolve(ref, platform)).config;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (opts.pull || !(await pull(ref, platform))) return undefined;
      return (await stores.images.resolve(ref, platform)).config;
    },
  };
  if (opts.target) convertOptions.target = opts.target;
  if (opts.platform) convertOptions.platform = opts.platform;
  if (opts.labels) convertOptions.labels = opts.labels;
  if (opts.noCacheFilter?.length) convertOptions.noCacheFilter = opts.noCacheFilter;
  if (opts.buildContexts) convertOptions.contexts = opts.buildContexts;
  let ignorePatterns: string[] | undefined;
  if (opts.contextDir) {
    convertOptions.contextPath = path.resolve(opts.contextDir);
    ignorePatterns = (await readDockerignore(opts.contextDir, opts.dockerfile.path)).patterns;
    if (ignorePatterns.length) convertOptions.excludePatterns = ignorePatterns;
  }
  let conv: ConvertResult;
  try {
    conv = await convertAst(ast, convertOptions);
  } catch (err) {
    emit({ type: 'vertex.error', digest: defDigest, time: now(), canceled: false, error: (err as Error).message });
    throw err;
  }
  emit({ type: 'vertex.completed', digest: defDigest, time: now(), duration: now() - t0 });

  // 2. the worker
  const vertices = new Map<string, Vertex>(conv.graph.vertices.map((v) => [v.digest, v]));
  const contexts: WorkerDeps['contexts'] = {};
  const emptyCtx = opts.contextDir ? undefined : await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-empty-context-'));
  contexts.context = await contextOpener(opts.contextDir ?? emptyCtx!, opts.root, opts.dockerfile.path, ignorePatterns ?? []);
  for (const [name, c] of Object.entries(opts.buildContexts ?? {})) {
    if (c.type === 'local') contexts[name] = await contextOpener(c.path, opts.root, undefined, undefined);
  }
  const executor = opts.executor ?? createExecutor('kiln');
  const deps: WorkerDeps = {
    root: opts.root,
    content: stores.content,
    snapshotter,
    images: stores.images,
    executor,
    vertices,
    contexts,
    // plain tar layers, as Docker's image store keeps them: compressed only when an image leaves
    // the machine (src/image/compress-layers.ts), so no step pays for deflate
    diff: { compression: 'none', ...(sde !== undefined ? { sourceDateEpoch: sde } : {}) },
    secrets: new Map((opts.secrets ?? []).map((s) => [s.id, s])),
    pullError: (ref: string) => pullErrors.get(ref),
  };
  if (opts.network === 'none') {
    for (const v of vertices.values()) if (v.op.kind === 'exec' && v.op.network === 'default') v.op = { ...v.op, network: 'none' };
  }
  const imports: Array<LocalCacheImport | RegistryCacheImport | ImageCacheImport> = [];
  for (const c of opts.cacheFrom ?? []) {
    try {
      if (c.type === 'local') imports.push(await LocalCacheImport.open(c.src, c.tag ? { tag: c.tag } : {}));
      else imports.push(await openRegistryCacheSource(c.ref, opts.root, stores));
    } catch (err) {
      // buildx: a missing cache source is not an error, the build just has no cache from it
      if (c.type === 'local' && !isNotFound(err)) throw err;
      emit({ type: 'vertex.log', digest: defDigest, time: now(), stream: 'stderr', data: Buffer.from(`cache source ${c.type === 'local' ? c.src : c.ref} ignored: ${(err as Error).message}\n`) });
    }
  }
  const local = new FileCacheStore(opts.root);
  const cache: CacheStore = imports.length ? new LayeredCacheStore(local, imports) : local;
  const restore = createRestore(deps, (digest) => {
    for (const i of imports) {
      try {
        const b = i.blob(digest as Digest);
        if (b) return b;
      } catch {
        /* next source */
      }
    }
    return undefined;
  });
  const scope = `${opts.dockerfile.path ? path.resolve(opts.dockerfile.path) : opts.dockerfile.name}#${conv.targetStage}`;
  const lease = await createLease(opts.root);
  const ops = createOpHandlers(deps);
  try {
    // 3. solve
    let result: StepResult = { snapshot: null, layers: [] };
    let solved: SolveOutput | undefined;
    if (conv.graph.target) {
      const solver = new Solver<Vertex>({
        handlers: ops.handlers,
        cache,
        ...(opts.jobs ? { concurrency: opts.jobs, processesHoldSlots: true } : {}),
        onEvent: emit,
        ...(opts.signal ? { signal: opts.signal } : {}),
        noCache: opts.noCache ? true : (v: Vertex) => v.meta?.ignoreCache === true,
        restore: async (rec: CacheRecord, signal: AbortSignal) => {
          const r = await restore(rec, signal);
          if (r && rec.result.snapshot === null && r.snapshot !== null && imports.length) {
            await local.put({ ...rec, result: r }).catch(() => undefined); // keep the imported hit locally
          }
          return r;
        },
        history: { store: new HistoryStore(opts.root), scope },
      });
      try {
        solved = await solver.solve(vertices, conv.graph.target);
      } catch (err) {
        if (err instanceof VertexError) await attachDebugImage(err, deps, solver, created);
        throw err;
      }
      result = solved.result;
    }

    // 4. the image (with --cache-to type=inline, the records of its own layers go into its config)
    const outputs = opts.outputs?.length ? opts.outputs : [{ type: 'image' as const, names: opts.tags ?? [] }];
    const needImage = outputs.some((o) => o.type === 'image' || o.type === 'oci' || o.type === 'docker') || (opts.tags?.length ?? 0) > 0;
    const exportDigest = digestOf({ internal: 'export', target: conv.graph.target });
    const te = now();
    if (needImage) emit({ type: 'vertex.started', digest: exportDigest, time: te, name: 'exporting to image' });
    // the steps' layers are written now, the final stage's only (solver/ops/layers.ts)
    const layers = await resolveLayers(deps, result.layers);
    await lease.add(...layers.map((l) => l.descriptor.digest)); // one write for all
    if (needImage && layers.length) emit({ type: 'vertex.log', digest: exportDigest, time: now(), stream: 'stdout', data: Buffer.from(`exporting layers ${((now() - te) / 1000).toFixed(1)}s done\n`) });
    const fin = finalizeConfig(conv.config, layers, created, sdeTime);
    if (opts.cacheTo?.type === 'inline' && solved) {
      // an inline cache travels with the pushed image: its records must name the gzip blobs
      const records = await resolveRecords(deps, selectRecordsForExport(await recordsOfSolve(cache, solved), result, 'min'));
      const swap = await gzipSwap(stores.content, opts.root, [...fin.layers, ...records.flatMap((r) => r.result.layers)]);
      fin.layers = fin.layers.map(swap);
      fin.config = withInlineCache(fin.config, records.map((r) => ({ ...r, result: { ...r.result, layers: r.result.layers.map(swap) } })));
    }
    let manifest: Descriptor | undefined;
    let imageId: Digest | undefined;
    if (needImage) {
      const names = [...new Set([...(opts.tags ?? []), ...outputs.flatMap((o) => ('names' in o ? o.names : []))])];
      manifest = await stores.images.createImage({ config: fin.config, layers: fin.layers, names });
      if (names.length === 0) await stores.images.addDangling(manifest);
      imageId = (await stores.images.loadTarget(manifest)).id;
      emit({ type: 'vertex.log', digest: exportDigest, time: now(), stream: 'stdout', data: Buffer.from(`writing image ${imageId}\n${names.map((n) => `naming to ${n}\n`).join('')}`) });
      emit({ type: 'vertex.completed', digest: exportDigest, time: now(), duration: now() - te });
    }
    for (const o of outputs) {
      if (o.type === 'image') continue;
      const od = digestOf({ internal: 'output', o });
      const to = now();
      emit({ type: 'vertex.started', digest: od, time: to, name: `exporting to ${o.type} ${o.dest}` });
      // buildx: an oci/docker archive without name= carries the -t names (so docker load tags it)
      const named = (o.type === 'oci' || o.type === 'docker') && o.names.length === 0 ? { ...o, names: opts.tags ?? [] } : o;
      await writeOutput(deps, stores.images, named, { ...result, layers }, fin.layers, manifest, sde);
      emit({ type: 'vertex.completed', digest: od, time: now(), duration: now() - to });
    }

    // 5. cache export
    let cacheExport: ExportCacheResult | undefined;
    if (opts.cacheTo && opts.cacheTo.type !== 'inline' && solved) {
      const where = opts.cacheTo.type === 'local' ? opts.cacheTo.dest : opts.cacheTo.ref;
      const cd = digestOf({ internal: 'cache-export', where });
      const tc = now();
      emit({ type: 'vertex.started', digest: cd, time: tc, name: `exporting cache to ${where}` });
      const selected = await resolveRecords(deps, selectRecordsForExport(await recordsOfSolve(cache, solved), result, opts.cacheTo.mode));
      cacheExport =
        opts.cacheTo.type === 'local'
          ? await exportCacheLocal({ dest: opts.cacheTo.dest, records: selected, content: stores.content })
          : await exportCacheRegistry({ ref: opts.cacheTo.ref, records: await gzipRecords(stores.content, opts.root, selected), content: stores.content, root: opts.root });
      emit({ type: 'vertex.log', digest: cd, time: now(), stream: 'stdout', data: Buffer.from(`${cacheExport.records} records, ${cacheExport.blobsWritten} new blobs (${cacheExport.bytesWritten} bytes), ${cacheExport.blobsSkipped} already there\n`) });
      emit({ type: 'vertex.completed', digest: cd, time: now(), duration: now() - tc });
    }
    if (solved) await writeBackLayers(deps, local, [...solved.vertices.values()].map((o) => o.key));
    let executed = 0;
    let cachedCount = 0;
    for (const o of solved?.vertices.values() ?? []) {
      const v = vertices.get(o.digest);
      if (v?.op.kind === 'source' && v.op.source.kind === 'local') continue;
      if (o.cached) cachedCount++;
      else executed++;
    }
    const out: BuildResult = { config: fin.config, layers: fin.layers, convert: conv, executed, cached: cachedCount };
    if (imageId) out.imageId = imageId;
    if (manifest) out.manifest = manifest;
    if (solved) out.solve = solved;
    if (cacheExport) out.cacheExport = cacheExport;
    return out;
  } finally {
    await ops.close().catch(() => undefined);
    await lease.release().catch(() => undefined);
    if (emptyCtx) await fs.rm(emptyCtx, { recursive: true, force: true });
  }
}

/**
 * For a failed RUN: store the filesystem *before* the step as a dangling image with the step's
 * Env, USER and WORKDIR, and name the command that opens a shell in it.
 */
async function attachDebugImage(err: VertexError, deps: WorkerDeps, solver: Solver<Vertex>, created: string): Promise<void> {
  const images = deps.images;
  const v = deps.vertices.get(err.vertex.digest);
  if (!v || v.op.kind !== 'exec' || !(err.cause instanceof ExecFailedError)) return;
  const rootIdx = v.op.rootfs;
  const base = rootIdx === null ? { snapshot: null, layers: [] } : solver.vertexOutcomes.get(v.inputs[rootIdx]!)?.result;
  if (!base) return;
  try {
    const layers = await resolveLayers(deps, base.layers);
    const config: ImageConfig = {
      created,
      architecture: os.arch() === 'x64' ? 'amd64' : os.arch() === 'arm64' ? 'arm64' : os.arch(),
      os: 'linux',
      config: { Env: v.op.env, WorkingDir: v.op.cwd, ...(v.op.user ? { User: v.op.user } : {}), Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [] },
    };
    const desc = await images.createImage({ config, layers });
    await images.addDangling(desc);
    const id = (await images.loadTarget(desc)).id;
    err.debugCommand = `kiln run -it --rm ${id.slice(7, 19)} /bin/sh`;
  } catch {
    // the failure itself is what matters; the debug image is a convenience
  }
}

async function openWorker(root: string) {
  await fs.mkdir(root, { recursive: true });
  const stores = await openStores(root);
  const snapshotter = await createSnapshotter(root);
  return { stores, snapshotter };
}

async function writeOutput(
  deps: WorkerDeps,
  images: ImageStore,
  o: Exclude<OutputSpec, { type: 'image' }>,
  result: StepResult,
  layers: LayerRef[],
  manifest: Descriptor | undefined,
  sde: number | undefined,
): Promise<void> {
  switch (o.type) {
    case 'local': {
      // the final root filesystem, written by applying the layers (owners kept when run as root)
      await fs.mkdir(o.dest, { recursive: true });
      for (const l of layers) await applyTar(deps.content.get(l.descriptor.digest), o.dest);
      return;
    }
    case 'tar': {
      const write = async (out: NodeJS.WritableStream) => {
        await withResultDir(deps, result, async (dir) => {
          await pipeline(Readable.from(writeTar(treeChanges(null, dir, sde !== undefined ? { sourceDateEpoch: sde } : {}))), out);
        });
      };
      if (o.dest === '-') await write(process.stdout);
      else await write(createWriteStream(o.dest));
      return;
    }
    case 'oci':
    case 'docker': {
      if (!manifest) throw new KilnError('BUILD_NO_IMAGE', 'no image to export');
      // BuildKit's oci/docker exporters compress (compression=gzip): the archive leaves the machine
      const img = await images.loadTarget((await compressedManifest(deps.content, deps.root, manifest)).descriptor);
      const out = o.dest === '-' ? process.stdout : createWriteStream(o.dest);
      await saveImages(images, [{ image: img, names: o.names }], out);
      if (out !== process.stdout) await new Promise<void>((res, rej) => (out as import('node:fs').WriteStream).end((e?: Error | null) => (e ? rej(e) : res())));
      return;
    }
  }
}

export type { Worker };

/**
 * A function that gives a layer ref its gzip blob (compress-layers.ts), for records and layers
 * that leave the machine. A local `--cache-to` directory keeps the plain blobs (no deflate cost).
 */
async function gzipSwap(content: ContentStore, root: string, layers: readonly LayerRef[]): Promise<<L extends { descriptor: Descriptor }>(l: L) => L> {
  const gz = await compressLayers(content, root, layers.map((l) => l.descriptor));
  return (l) => ({ ...l, descriptor: gz.get(l.descriptor.digest) ?? l.descriptor });
}

/** `records` naming gzip blobs (a registry cache is downloaded by the next CI run). */
async function gzipRecords(content: ContentStore, root: string, records: readonly BlobCacheRecord[]): Promise<BlobCacheRecord[]> {
  const swap = await gzipSwap(content, root, records.flatMap((r) => r.result.layers));
  return records.map((r) => ({ ...r, result: { ...r.result, layers: r.result.layers.map(swap) } }));
}

/** The exportable cache records of a solve (what --cache-to writes, before mode selection). */
async function recordsOfSolve(cache: CacheStore, solved: SolveOutput): Promise<CacheRecord[]> {
  const records: CacheRecord[] = [];
  for (const o of solved.vertices.values()) {
    const rec = await cache.get(o.key);
    if (rec && !rec.result.meta?.local) records.push(rec);
  }
  return records;
}

/**
 * `--cache-from REF` (or type=registry,ref=REF): a kiln cache manifest in a registry, or an image
 * carrying an inline cache: the local image when the store has one by that name, else the registry's.
 */
async function openRegistryCacheSource(ref: string, root: string, stores: Stores): Promise<RegistryCacheImport | ImageCacheImport> {
  const deps = { root, images: stores.images, content: stores.content };
  if (await stores.images.getImage(ref).then(() => true, () => false)) {
    const inline = await openInlineCache(ref, deps);
    if (inline) return inline;
  }
  try {
    return await RegistryCacheImport.open(ref, root);
  } catch (err) {
    if (!hasCode(err, 'CACHE_IMPORT_INVALID')) throw err;
    const inline = await openInlineCache(ref, deps);
    if (!inline) throw new KilnError('CACHE_IMPORT_INVALID', `--cache-from ${ref}: neither a cache manifest nor an image with an inline cache (build it with --cache-to type=inline)`);
    return inline;
  }
}
