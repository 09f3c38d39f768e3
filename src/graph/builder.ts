/** Collects vertices: the same op over the same inputs is one vertex (first name wins, ranges merge). */
import type { SourceRange } from '../diagnostics/types.js';
import { vertexDigest } from './marshal.js';
import type { InputIndex, Op, Vertex, VertexDigest, VertexMeta } from './types.js';

export class GraphBuilder {
  readonly vertices = new Map<VertexDigest, Vertex>();
  /**
   * Range keys per vertex, so merging stays linear when 10,000 stages share one FROM. Made on
   * the first merge into a vertex: most vertices are added once, and a Set per vertex was a
   * measurable share of convert's allocations.
   */
  private readonly rangeKeys = new Map<VertexDigest, Set<string>>();

  add(op: Op, inputs: readonly VertexDigest[], name: string, ranges: readonly SourceRange[], meta?: VertexMeta): VertexDigest {
    const digest = vertexDigest(op, inputs);
    const existing = this.vertices.get(digest);
    if (existing) {
      let keys = this.rangeKeys.get(digest);
      if (!keys) {
        keys = new Set(existing.ranges.map(rangeKey));
        this.rangeKeys.set(digest, keys);
      }
      for (const r of ranges) {
        const k = rangeKey(r);
        if (!keys.has(k)) {
          keys.add(k);
          existing.ranges.push(r);
        }
      }
      return digest;
    }
    const v: Vertex = { digest, op, inputs: [...inputs], name, ranges: [...ranges] };
    if (meta && Object.keys(meta).length > 0) v.meta = meta;
    this.vertices.set(digest, v);
    return digest;
  }

  /** Vertices reachable from `roots`, in creation order (which puts inputs before their users). */
  reachable(roots: readonly (VertexDigest | null)[]): Vertex[] {
    const seen = new Set<VertexDigest>();
    const stack = roots.filter((r): r is VertexDigest => r !== null);
    while (stack.length) {
      const d = stack.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      stack.push(...this.vertices.get(d)!.inputs);
    }
    return [...this.vertices.values()].filter((v) => seen.has(v.digest));
  }
}

function rangeKey(r: SourceRange): string {
  return `${r.file}\0${r.start.line}:${r.start.column}-${r.end.line}:${r.end.column}`;
}

/** Builds a vertex's input list while an op refers to inputs by index. */
export class Inputs {
  readonly list: VertexDigest[] = [];
  /** The index of `d` (added once), or null for an empty filesystem. */
  ref(d: VertexDigest | null): InputIndex {
    if (d === null) return null;
    const i = this.list.indexOf(d);
    if (i !== -1) return i;
    this.list.push(d);
    return this.list.length - 1;
  }
}
