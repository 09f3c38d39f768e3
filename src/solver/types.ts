import type { SourceRange } from '../diagnostics/types.js';
import type { CacheKey, CacheRecord, CacheStore, StepResult } from '../cache/types.js';
import type { HistoryProvider } from '../cache/history-store.js';

export type { CacheKey, StepResult };

/**
 * The least the solver needs of a build-graph vertex (graph/types.ts Vertex satisfies it):
 * identity, the digests of its inputs, a display name and its Dockerfile ranges.
 * `op.kind` picks the handler.
 */
export interface SolveVertex<Op extends { kind: string } = { kind: string }> {
  digest: string;
  op: Op;
  inputs: readonly string[];
  name: string;
  ranges?: readonly SourceRange[];
}

/** Vertices by digest. Anything not reachable from the target is never looked at. */
export type VertexMap<V extends SolveVertex = SolveVertex> = ReadonlyMap<string, V>;

/**
 * The key material an op declares before it runs (buildkit's CacheMap).
 * `digest` covers the op definition and any content it reads itself (for COPY: the digests and
 * modes/owners of exactly the selected files); the solver mixes in the inputs' cache keys.
 * `components` names the parts (for explanations) — never secret values.
 */
export interface CacheMap {
  digest: string;
  /**
   * Named parts of the key, compared with the previous build to explain a miss. Prefixes the
   * explainer understands: `file:<path>` (context file digest), `env:<NAME>` / `arg:<NAME>` (a value
   * in scope), `image` (base image digest), `op:<field>` (the instruction itself).
   */
  components?: Record<string, string>;
  /** Never reuse a cached result for this op (e.g. ADD of a URL without a checksum, the build context). */
  noCache?: boolean;
  /** Why, for the progress output (default: "this step always runs"). */
  noCacheReason?: string;
  /** Do not announce a cache miss for this op (internal steps such as loading the build context). */
  silentMiss?: boolean;
}

export interface OpContext<V extends SolveVertex = SolveVertex> {
  vertex: V;
  /** Aborted when the build fails elsewhere or is cancelled: stop, kill processes, release everything. */
  signal: AbortSignal;
  /** Stream output of the step (RUN stdout/stderr); shown by the progress renderer, kept in full. */
  log(stream: 'stdout' | 'stderr', data: Uint8Array | string): void;
  /** The cache keys of the inputs, in input order. */
  inputKeys: readonly CacheKey[];
  /** This vertex's own cache key; set for `exec` (a stable name for what it commits). */
  key?: CacheKey;
  /**
   * Run `fn` (a container's process) without holding a job slot, unless the user capped steps
   * with --jobs: kiln's own work (prepare, diff, commit) is bounded by the slots, a process that
   * mostly waits (`RUN sleep 1`, a download) must not keep independent stages from starting.
   */
  waiting<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * What the solver calls for every vertex whose `op.kind` matches.
 * Ownership (buildkit's Op.Exec contract): on error or abort, `exec` must release anything it
 * created (active snapshots, temp files, processes) before rejecting; on success the result's
 * snapshot is committed and owned by the cache.
 */
export interface OpHandler<V extends SolveVertex = SolveVertex> {
  /** Key material; must not need the inputs' results (so a cached build loads nothing). */
  cacheMap(ctx: OpContext<V>): Promise<CacheMap>;
  /** Run the op over its inputs' results. */
  exec(ctx: OpContext<V>, inputs: readonly StepResult[]): Promise<StepResult>;
}

export type MissKind =
  | 'first-build'
  | 'no-cache'
  | 'new-step'
  | 'context-file'
  | 'env'
  | 'base-image'
  | 'instruction'
  | 'earlier-step'
  | 'pruned'
  | 'unknown';

/** Why a step ran. `message` is for people; `details` lists every difference found. */
export interface MissReason {
  kind: MissKind;
  message: string;
  details?: string[];
}

interface VertexEventBase {
  digest: string;
  /** ms since epoch */
  time: number;
}

/** The one progress stream. The solver never prints; renderers in src/cli/progress do. */
export type ProgressEvent =
  | (VertexEventBase & { type: 'vertex.started'; name: string; ranges?: readonly SourceRange[] })
  | (VertexEventBase & { type: 'vertex.cached'; name: string; ranges?: readonly SourceRange[]; source?: 'local' | 'import' })
  | (VertexEventBase & { type: 'vertex.cacheMiss'; name: string; reason: MissReason })
  | (VertexEventBase & { type: 'vertex.log'; stream: 'stdout' | 'stderr'; data: Uint8Array })
  | (VertexEventBase & { type: 'vertex.completed'; duration: number })
  | (VertexEventBase & { type: 'vertex.error'; error: string; canceled: boolean; duration?: number });

export type ProgressListener = (event: ProgressEvent) => void;

export interface SolverOptions<V extends SolveVertex = SolveVertex> {
  /** Handlers by `op.kind`. */
  handlers: Readonly<Record<string, OpHandler<V>>>;
  cache: CacheStore;
  /** How many ops do kiln's own work at once; default: the number of cores. */
  concurrency?: number;
  /**
   * Whether a running container process keeps its slot (`--jobs N` given: at most N steps at
   * once, RUN included). Default false: processes run beside the slots (see OpContext.waiting).
   */
  processesHoldSlots?: boolean;
  onEvent?: ProgressListener;
  /** Cancel the whole build (Ctrl-C). */
  signal?: AbortSignal;
  /** `--no-cache` (true) or `--no-cache-filter` (a predicate over vertices). */
  noCache?: boolean | ((vertex: V) => boolean);
  /**
   * Turn a record found in the cache into a usable result (check its snapshot still exists,
   * or re-create it from its layers for an imported record). Undefined = unusable; the step runs.
   * Default: the stored result as is.
   */
  restore?: (record: CacheRecord, signal: AbortSignal) => Promise<StepResult | undefined>;
  /** Remember this build and explain misses against the previous one of the same scope. */
  history?: { store: HistoryProvider; scope: string; stepIdOf?: (vertex: V) => string };
  now?: () => number;
}

/** One vertex's outcome in a finished solve. */
export interface VertexOutcome {
  digest: string;
  key: CacheKey;
  cached: boolean;
  /** Present for vertices whose result was loaded or produced. */
  result?: StepResult;
  reason?: MissReason;
}

export interface SolveOutput {
  result: StepResult;
  key: CacheKey;
  /** Every vertex the target reached, by digest. */
  vertices: Map<string, VertexOutcome>;
}
