import os from 'node:os';
import PQueue from 'p-queue';
import { KilnError } from '../diagnostics/errors.js';
import type { BuildHistory, CacheKey, CacheRecord, HistoryStep, StepResult } from '../cache/types.js';
import { computeCacheKey } from './cache-key.js';
import { CanceledError, VertexError, isCanceled } from './errors.js';
import { explainMiss } from './explain.js';
import { Singleflight } from './singleflight.js';
import type {
  CacheMap,
  MissReason,
  OpContext,
  ProgressEvent,
  SolveOutput,
  SolveVertex,
  SolverOptions,
  VertexMap,
  VertexOutcome,
} from './types.js';

interface KeyInfo {
  key: CacheKey;
  inputKeys: CacheKey[];
  components: Record<string, string>;
  /** A usable-looking record, when the cache has one and caching is allowed. */
  record?: CacheRecord;
  noCache: boolean;
  /** The op itself asked never to be cached, with this reason. */
  opNoCache?: string;
  silentMiss?: boolean;
}

/**
 * The default step identity for miss explanations: the `[stage i` part of a name like
 * `[builder 3/5] RUN make`, so adding a step at the end does not renumber the others' ids.
 */
export function defaultStepId(vertex: SolveVertex): string {
  const m = /^\[([^\]]*?)\s*(\d+)\/\d+\]/.exec(vertex.name);
  return m ? `${m[1]} ${m[2]}`.trim() : vertex.name;
}

/**
 * Runs a build graph: each vertex once (digest-keyed singleflight), inputs before dependants,
 * at most `concurrency` ops at a time (p-queue), cache lookups before exec, fail-fast
 * cancellation through one AbortSignal. A Solver instance is one build job.
 *
 * Flow per vertex: its key needs only its inputs' keys (never their results), so a fully cached
 * build computes keys top-down and loads only the target's result. A miss loads its inputs'
 * results (recursively), explains itself, runs, and writes a cache record once it succeeded.
 */
export class Solver<V extends SolveVertex = SolveVertex> {
  private readonly queue: PQueue;
  private readonly abort = new AbortController();
  private readonly keys = new Singleflight<string, KeyInfo>();
  private readonly keyInfos = new Map<string, KeyInfo>();
  private readonly results = new Singleflight<string, StepResult>();
  private readonly outcomes = new Map<string, VertexOutcome>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly now: () => number;
  private firstError: unknown;
  private history: BuildHistory | undefined;
  private readonly historySteps: Record<string, HistoryStep> = {};
  private graph: VertexMap<V> = new Map();
  /** Each vertex's place in the order a one-at-a-time build would need it (see needOrder). */
  private order = new Map<string, number>();

  constructor(private readonly opts: SolverOptions<V>) {
    this.queue = new PQueue({ concurrency: Math.max(1, opts.concurrency ?? os.availableParallelism()) });
    this.now = opts.now ?? Date.now;
    if (opts.signal) {
      const onAbort = (): void => this.fail(new CanceledError('build canceled', opts.signal?.reason));
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** What is known about each vertex so far (also after a failed solve: the steps that completed). */
  get vertexOutcomes(): ReadonlyMap<string, VertexOutcome> {
    return this.outcomes;
  }

  /** The signal every op sees; aborted on the first failure or on cancellation. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * Solve `target` (a vertex digest) in `graph`. Rejects with the first failure (a VertexError, or
   * CanceledError) only after every running op has settled, so nothing is left half-done.
   */
  async solve(graph: VertexMap<V>, target: string): Promise<SolveOutput> {
    this.graph = graph;
    this.order = needOrder(graph, target);
    if (this.opts.history) this.history = await this.opts.history.store.load(this.opts.history.scope);
    let result: StepResult | undefined;
    let err: unknown;
    try {
      // every key is known once the target's is: start what has to run in need order, so the stage
      // a COPY --from needs first also starts (and ends) first
      await this.keyOf(target);
      for (const d of this.toRun(target)) void this.resultOf(d).catch(() => undefined);
      result = await this.resultOf(target);
    } catch (e) {
      err = e;
    }
    if (err !== undefined) this.fail(err);
    await this.drain();
    if (this.opts.history) {
      await this.opts.history.store.update(this.opts.history.scope, this.historySteps).catch(() => undefined);
    }
    if (this.firstError !== undefined) throw this.firstError;
    const info = await this.keyOf(target);
    return { result: result!, key: info.key, vertices: this.outcomes };
  }

  private async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await this.queue.onIdle();
  }

  private fail(err: unknown): void {
    if (this.firstError !== undefined) return;
    this.firstError = err;
    this.abort.abort(err);
    this.queue.clear();
  }

  private emit(ev: ProgressEvent): void {
    try {
      this.opts.onEvent?.(ev);
    } catch {
      // a broken renderer must not break the build
    }
  }

  private vertex(digest: string): V {
    const v = this.graph.get(digest);
    if (!v) throw new KilnError('SOLVE_MISSING_VERTEX', `the build graph has no vertex ${digest}`);
    return v;
  }

  private noCacheFor(v: V): boolean {
    const nc = this.opts.noCache;
    return typeof nc === 'function' ? nc(v) : nc === true;
  }

  private context(v: V, inputKeys: CacheKey[], key?: CacheKey): OpContext<V> {
    return {
      ...(key ? { key } : {}),
      vertex: v,
      signal: this.abort.signal,
      inputKeys,
      waiting: (fn) => this.waiting(fn),
      log: (stream, data) => {
        const bytes = typeof data === 'string' ? Buffer.from(data) : data;
        if (bytes.length > 0) this.emit({ type: 'vertex.log', digest: v.digest, time: this.now(), stream, data: bytes });
      },
    };
  }

  /**
   * Lend the caller's slot to the queue while `fn` waits (p-queue takes a raised concurrency at
   * once and starts the next op; lowering it back only stops new starts).
   */
  private async waiting<T>(fn: () => Promise<T>): Promise<T> {
    if (this.opts.processesHoldSlots) return fn();
    this.queue.concurrency += 1;
    try {
      return await fn();
    } finally {
      this.queue.concurrency -= 1;
    }
  }

  /**
   * Run `fn` for vertex `digest` in the queue, tracked so a failing build waits for it; refuses
   * once aborted. Queued ops start in need order: of four stages a final stage copies from one
   * after the other, the first one copied from starts first and so ends first, and its COPY runs
   * while the others finish.
   */
  private schedule<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    if (this.abort.signal.aborted) return Promise.reject(this.cancelError());
    const priority = -(this.order.get(digest) ?? this.order.size);
    const p = this.queue.add(async () => {
      if (this.abort.signal.aborted) throw this.cancelError();
      return fn();
    }, { priority }) as Promise<T>;
    this.running.add(p);
    void p.then(
      () => this.running.delete(p),
      () => this.running.delete(p),
    );
    return p;
  }

  private cancelError(): CanceledError {
    return this.firstError instanceof CanceledError ? this.firstError : new CanceledError('canceled: another step failed', this.firstError);
  }

  private handler(v: V) {
    const h = this.opts.handlers[v.op.kind];
    if (!h) throw new VertexError(v, new KilnError('SOLVE_NO_HANDLER', `no handler for op kind "${v.op.kind}"`));
    return h;
  }

  private stepId(v: V): string {
    return (this.opts.history?.stepIdOf ?? defaultStepId)(v);
  }

  /** The cache key of a vertex and whether the cache has it; needs only the inputs' keys. */
  private keyOf(digest: string): Promise<KeyInfo> {
    return this.keys.do(digest, async () => {
      const v = this.vertex(digest);
      const inputKeys = await Promise.all(v.inputs.map((d) => this.keyOf(d).then((k) => k.key)));
      const h = this.handler(v);
      let cm: CacheMap;
      try {
        cm = await this.schedule(digest, () => h.cacheMap(this.context(v, inputKeys)));
      } catch (err) {
        if (isCanceled(err)) throw err;
        const verr = err instanceof VertexError ? err : new VertexError(v, err);
        if (this.firstError === undefined) {
          // show the step that could not even be keyed (BuildKit: "failed to compute cache key")
          const t = this.now();
          this.emit({ type: 'vertex.started', digest, time: t, name: v.name, ...(v.ranges ? { ranges: v.ranges } : {}) });
          this.emit({ type: 'vertex.error', digest, time: t, duration: 0, canceled: false, error: `failed to compute cache key: ${verr.message}` });
        }
        this.fail(verr);
        throw verr;
      }
      const key = computeCacheKey(cm.digest, inputKeys);
      const noCache = this.noCacheFor(v) || cm.noCache === true;
      const info: KeyInfo = { key, inputKeys, components: cm.components ?? {}, noCache };
      if (cm.noCache) info.opNoCache = cm.noCacheReason ?? 'this step always runs';
      if (cm.silentMiss) info.silentMiss = true;
      if (!noCache) {
        const rec = await this.opts.cache.get(key);
        if (rec) {
          info.record = rec;
          await this.opts.cache.touch?.(key);
          this.emit({ type: 'vertex.cached', digest, time: this.now(), name: v.name, ...(v.ranges ? { ranges: v.ranges } : {}) });
          this.outcomes.set(digest, { digest, key, cached: true });
          this.remember(v, info);
        }
      }
      this.keyInfos.set(digest, info);
      return info;
    });
  }

  /**
   * What resolving `target` loads or runs, in need order: the target and, down from it, the inputs
   * of every step without a cache record (a cached step is restored, and its inputs are not needed).
   * Call once the target's key is known.
   */
  private toRun(target: string): string[] {
    const seen = new Set<string>();
    const walk = [target];
    while (walk.length) {
      const d = walk.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      if (this.keyInfos.get(d)?.record) continue;
      walk.push(...this.vertex(d).inputs);
    }
    return [...seen].sort((a, b) => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0));
  }

  private remember(v: V, info: KeyInfo): void {
    if (!this.opts.history) return;
    this.historySteps[this.stepId(v)] = { key: info.key, name: v.name, components: info.components, inputs: info.inputKeys };
  }

  /** The result of a vertex: restored from the cache, or produced by running its op. */
  private resultOf(digest: string): Promise<StepResult> {
    return this.results.do(digest, async () => {
      const v = this.vertex(digest);
      const info = await this.keyOf(digest);
      if (info.record) {
        const restore = this.opts.restore;
        const restored = restore
          ? await restore(info.record, this.abort.signal).catch(() => undefined)
          : info.record.result;
        if (restored) {
          this.outcomes.set(digest, { digest, key: info.key, cached: true, result: restored });
          return restored;
        }
        delete info.record; // unusable record: run the step after all
      }
      return this.run(v, info);
    });
  }

  private async run(v: V, info: KeyInfo): Promise<StepResult> {
    const inputs = await Promise.all(v.inputs.map((d) => this.resultOf(d)));
    if (this.abort.signal.aborted) throw this.cancelError();
    const reason = await this.explain(v, info);
    this.outcomes.set(v.digest, { digest: v.digest, key: info.key, cached: false, reason });
    const h = this.handler(v);
    let started = 0;
    let result: StepResult;
    try {
      result = await this.schedule(v.digest, async () => {
        started = this.now();
        if (!info.silentMiss) this.emit({ type: 'vertex.cacheMiss', digest: v.digest, time: started, name: v.name, reason });
        this.emit({ type: 'vertex.started', digest: v.digest, time: started, name: v.name, ...(v.ranges ? { ranges: v.ranges } : {}) });
        return h.exec(this.context(v, info.inputKeys, info.key), inputs);
      });
    } catch (err) {
      const canceled = isCanceled(err) || (this.abort.signal.aborted && this.firstError !== undefined);
      if (started) {
        const t = this.now();
        this.emit({
          type: 'vertex.error',
          digest: v.digest,
          time: t,
          duration: t - started,
          canceled,
          error: canceled ? 'canceled' : (err as Error)?.message ?? String(err),
        });
      }
      if (canceled) throw isCanceled(err) ? err : this.cancelError();
      const verr = err instanceof VertexError ? err : new VertexError(v, err);
      this.fail(verr);
      throw verr;
    }
    // Record only what completed; the record write is atomic, so a crash leaves no half record.
    const record: CacheRecord = {
      key: info.key,
      result,
      created: new Date(this.now()).toISOString(),
      vertex: { name: v.name, ...(v.ranges ? { ranges: [...v.ranges] } : {}) },
      inputs: info.inputKeys,
      components: info.components,
    };
    await this.opts.cache.put(record);
    const t = this.now();
    this.emit({ type: 'vertex.completed', digest: v.digest, time: t, duration: t - started });
    this.outcomes.set(v.digest, { digest: v.digest, key: info.key, cached: false, result, reason });
    this.remember(v, info);
    return result;
  }

  private async explain(v: V, info: KeyInfo): Promise<MissReason> {
    if (info.opNoCache !== undefined && !this.noCacheFor(v)) return { kind: 'no-cache', message: info.opNoCache };
    const inputs = await Promise.all(
      v.inputs.map(async (d, i) => {
        const iv = this.vertex(d);
        const o = this.outcomes.get(d);
        return { key: info.inputKeys[i]!, name: iv.name, ...(o && !o.cached && o.reason ? { ranReason: o.reason } : {}) };
      }),
    );
    return explainMiss({
      noCache: info.noCache && this.noCacheFor(v),
      history: this.history,
      previous: this.history?.steps[this.stepId(v)],
      key: info.key,
      components: info.components,
      inputs,
    });
  }
}

/**
 * The vertices reachable from `target` numbered in the order a one-at-a-time build needs them:
 * depth first, each vertex's inputs in their order before the vertex itself (post-order). A stage
 * the first COPY --from names comes before one a later COPY names.
 */
export function needOrder(graph: VertexMap<SolveVertex>, target: string): Map<string, number> {
  const order = new Map<string, number>();
  const entered = new Set<string>();
  // iterative: a long chain of steps must not overflow the stack
  const stack: { digest: string; next: number }[] = [{ digest: target, next: 0 }];
  entered.add(target);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const inputs = graph.get(top.digest)?.inputs ?? [];
    if (top.next < inputs.length) {
      const d = inputs[top.next++]!;
      if (!entered.has(d)) {
        entered.add(d);
        stack.push({ digest: d, next: 0 });
      }
      continue;
    }
    stack.pop();
    order.set(top.digest, order.size);
  }
  return order;
}

/** Convenience: one solve with a fresh Solver. */
export function solve<V extends SolveVertex>(graph: VertexMap<V>, target: string, opts: SolverOptions<V>): Promise<SolveOutput> {
  return new Solver(opts).solve(graph, target);
}
