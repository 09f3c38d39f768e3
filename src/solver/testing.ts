import type { StepResult } from '../cache/types.js';
import { digestOf } from './cache-key.js';
import type { OpHandler, SolveVertex } from './types.js';

/**
 * Fake ops for solver tests (buildkit's scheduler_test vtx()): no filesystem, only counters.
 * `value` is what exec returns (in meta.value, joined with the inputs' values), `seed` changes
 * the cache key, `delayMs` makes exec take time (holding its job slot), `processMs` makes it wait
 * inside ctx.waiting (like a RUN's container process), `fail` makes it reject, `logs` are emitted.
 */
export interface FakeOp {
  kind: 'fake';
  seed: string;
  value: string;
  delayMs?: number;
  processMs?: number;
  fail?: string;
  logs?: string[];
  components?: Record<string, string>;
}

export type FakeVertex = SolveVertex<FakeOp>;

export interface FakeVertexSpec {
  name?: string;
  seed?: string;
  value?: string;
  delayMs?: number;
  processMs?: number;
  fail?: string;
  logs?: string[];
  components?: Record<string, string>;
  inputs?: FakeVertex[];
}

export function vtx(spec: FakeVertexSpec): FakeVertex {
  const value = spec.value ?? spec.name ?? 'v';
  const op: FakeOp = { kind: 'fake', seed: spec.seed ?? value, value };
  if (spec.delayMs !== undefined) op.delayMs = spec.delayMs;
  if (spec.processMs !== undefined) op.processMs = spec.processMs;
  if (spec.fail !== undefined) op.fail = spec.fail;
  if (spec.logs) op.logs = spec.logs;
  if (spec.components) op.components = spec.components;
  const inputs = (spec.inputs ?? []).map((i) => i.digest);
  const v: FakeVertex = { digest: digestOf({ op, inputs }), op, inputs, name: spec.name ?? value };
  deps.set(v, spec.inputs ?? []);
  return v;
}

const deps = new WeakMap<FakeVertex, FakeVertex[]>();

/** Every vertex reachable from `roots`, by digest. */
export function graphOf(...roots: FakeVertex[]): Map<string, FakeVertex> {
  const out = new Map<string, FakeVertex>();
  const walk = (v: FakeVertex): void => {
    if (out.has(v.digest)) return;
    out.set(v.digest, v);
    for (const i of deps.get(v) ?? []) walk(i);
  };
  roots.forEach(walk);
  return out;
}

/** Build a graph map from a list of vertices (inputs must be in the list). */
export function graphFrom(vertices: FakeVertex[]): Map<string, FakeVertex> {
  return new Map(vertices.map((v) => [v.digest, v]));
}

export class FakeHandler implements OpHandler<FakeVertex> {
  readonly cacheMapCalls = new Map<string, number>();
  readonly execCalls = new Map<string, number>();
  readonly aborted = new Set<string>();
  running = 0;
  maxRunning = 0;
  /** Start/end times by vertex name, for overlap checks. */
  readonly spans = new Map<string, { start: number; end: number }>();

  async cacheMap(ctx: Parameters<OpHandler<FakeVertex>['cacheMap']>[0]) {
    const v = ctx.vertex;
    this.cacheMapCalls.set(v.name, (this.cacheMapCalls.get(v.name) ?? 0) + 1);
    return { digest: digestOf({ seed: v.op.seed }), components: v.op.components ?? { 'op:seed': v.op.seed } };
  }

  async exec(ctx: Parameters<OpHandler<FakeVertex>['exec']>[0], inputs: readonly StepResult[]): Promise<StepResult> {
    const v = ctx.vertex;
    this.execCalls.set(v.name, (this.execCalls.get(v.name) ?? 0) + 1);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const start = Date.now();
    try {
      for (const l of v.op.logs ?? []) ctx.log('stdout', l);
      if (v.op.delayMs) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, v.op.delayMs);
          ctx.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              this.aborted.add(v.name);
              const e = new Error('aborted');
              e.name = 'AbortError';
              reject(e);
            },
            { once: true },
          );
        });
      }
      const processMs = v.op.processMs;
      if (processMs) await ctx.waiting(() => new Promise((r) => setTimeout(r, processMs)));
      if (v.op.fail) throw new Error(v.op.fail);
      const value = [...inputs.map((i) => String(i.meta?.value ?? '')), v.op.value].join('+');
      return { snapshot: `snap-${v.name}`, layers: [], meta: { value } };
    } finally {
      this.running--;
      this.spans.set(v.name, { start, end: Date.now() });
    }
  }

  execCount(name: string): number {
    return this.execCalls.get(name) ?? 0;
  }
}
