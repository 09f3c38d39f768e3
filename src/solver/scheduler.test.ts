import { describe, expect, it } from 'vitest';
import { MemoryCacheStore } from '../cache/record-store.js';
import { MemoryHistoryStore } from '../cache/history-store.js';
import { Solver } from './scheduler.js';
import { FakeHandler, graphOf, vtx, type FakeVertex } from './testing.js';
import type { ProgressEvent, SolverOptions } from './types.js';

function setup(extra: Partial<SolverOptions<FakeVertex>> = {}) {
  const handler = new FakeHandler();
  const cache = new MemoryCacheStore();
  const events: ProgressEvent[] = [];
  const make = (more: Partial<SolverOptions<FakeVertex>> = {}) =>
    new Solver<FakeVertex>({ handlers: { fake: handler }, cache, concurrency: 4, onEvent: (e) => events.push(e), ...extra, ...more });
  return { handler, cache, events, make };
}

const typesOf = (events: ProgressEvent[], type: ProgressEvent['type']) => events.filter((e) => e.type === type);

describe('Solver', () => {
  it('runs a vertex shared by two branches once', async () => {
    const { handler, make } = setup();
    const base = vtx({ name: 'base', delayMs: 20 });
    const a = vtx({ name: 'a', inputs: [base] });
    const b = vtx({ name: 'b', inputs: [base] });
    const top = vtx({ name: 'top', inputs: [a, b] });
    const out = await make().solve(graphOf(top), top.digest);
    expect(handler.execCount('base')).toBe(1);
    expect(handler.cacheMapCalls.get('base')).toBe(1);
    expect(out.result.meta?.value).toBe('base+a+base+b+top');
  });

  it('reuses every result on a rerun without running anything', async () => {
    const { handler, make, events } = setup();
    const a = vtx({ name: 'a' });
    const b = vtx({ name: 'b', inputs: [a] });
    const g = graphOf(b);
    const first = await make().solve(g, b.digest);
    events.length = 0;
    const second = await make().solve(g, b.digest);
    expect(handler.execCount('a')).toBe(1);
    expect(handler.execCount('b')).toBe(1);
    expect(second.result).toEqual(first.result);
    expect(second.key).toBe(first.key);
    expect(typesOf(events, 'vertex.cached')).toHaveLength(2);
    expect(typesOf(events, 'vertex.started')).toHaveLength(0);
  });

  it('a changed input key invalidates dependants only', async () => {
    const { handler, make } = setup();
    const a = vtx({ name: 'a' });
    const side = vtx({ name: 'side' });
    const b = vtx({ name: 'b', inputs: [a, side] });
    await make().solve(graphOf(b), b.digest);
    const a2 = vtx({ name: 'a', seed: 'changed' });
    const b2 = vtx({ name: 'b', inputs: [a2, side] });
    await make().solve(graphOf(b2), b2.digest);
    expect(handler.execCount('a')).toBe(2);
    expect(handler.execCount('side')).toBe(1);
    expect(handler.execCount('b')).toBe(2);
  });

  it('a fully cached build loads only the target result', async () => {
    const { make } = setup();
    const a = vtx({ name: 'a' });
    const b = vtx({ name: 'b', inputs: [a] });
    await make().solve(graphOf(b), b.digest);
    const restored: string[] = [];
    const out = await make({
      restore: async (rec) => {
        restored.push(rec.vertex.name);
        return rec.result;
      },
    }).solve(graphOf(b), b.digest);
    expect(restored).toEqual(['b']);
    expect(out.vertices.get(a.digest)?.cached).toBe(true);
  });

  it('runs a step again when its cached result cannot be restored', async () => {
    const { handler, make } = setup();
    const a = vtx({ name: 'a' });
    await make().solve(graphOf(a), a.digest);
    await make({ restore: async () => undefined }).solve(graphOf(a), a.digest);
    expect(handler.execCount('a')).toBe(2);
  });

  it('--no-cache runs everything again and says so', async () => {
    const { handler, make, events } = setup();
    const a = vtx({ name: 'a' });
    await make().solve(graphOf(a), a.digest);
    events.length = 0;
    await make({ noCache: true }).solve(graphOf(a), a.digest);
    expect(handler.execCount('a')).toBe(2);
    const miss = typesOf(events, 'vertex.cacheMiss')[0];
    expect(miss?.type === 'vertex.cacheMiss' && miss.reason.kind).toBe('no-cache');
  });

  it('runs independent branches concurrently, bounded by concurrency', async () => {
    const { handler, make } = setup();
    const leaves = ['l1', 'l2', 'l3', 'l4'].map((n) => vtx({ name: n, delayMs: 80 }));
    const top = vtx({ name: 'top', inputs: leaves });
    const t0 = Date.now();
    await make({ concurrency: 4 }).solve(graphOf(top), top.digest);
    const elapsed = Date.now() - t0;
    expect(handler.maxRunning).toBe(4);
    // all four overlapped: every leaf started before any leaf ended
    const spans = leaves.map((l) => handler.spans.get(l.name)!);
    const lastStart = Math.max(...spans.map((s) => s.start));
    const firstEnd = Math.min(...spans.map((s) => s.end));
    expect(lastStart).toBeLessThan(firstEnd);
    expect(elapsed).toBeLessThan(80 * 4);

    const h2 = setup();
    const leaves2 = ['m1', 'm2', 'm3'].map((n) => vtx({ name: n, delayMs: 20 }));
    const top2 = vtx({ name: 'top2', inputs: leaves2 });
    await h2.make({ concurrency: 1 }).solve(graphOf(top2), top2.digest);
    expect(h2.handler.maxRunning).toBe(1);
  });

  it('a waiting process lends its slot: four RUN-like steps overlap at concurrency 1, unless processes hold slots', async () => {
    const { handler, make } = setup();
    const leaves = ['p1', 'p2', 'p3', 'p4'].map((n) => vtx({ name: n, processMs: 100 }));
    const top = vtx({ name: 'ptop', inputs: leaves });
    await make({ concurrency: 1 }).solve(graphOf(top), top.digest);
    expect(handler.maxRunning).toBe(4);

    const held = setup();
    const leaves2 = ['q1', 'q2', 'q3'].map((n) => vtx({ name: n, processMs: 30 }));
    const top2 = vtx({ name: 'qtop', inputs: leaves2 });
    await held.make({ concurrency: 1, processesHoldSlots: true }).solve(graphOf(top2), top2.digest);
    expect(held.handler.maxRunning).toBe(1);
  });

  it('starts stages in the order the target needs them: the first stage copied from starts first', async () => {
    for (const concurrency of [1, 4]) {
      const { handler, make } = setup();
      const base = vtx({ name: 'base' });
      const stages = ['s1', 's2', 's3', 's4'].map((n) => vtx({ name: n, inputs: [base], processMs: 10 }));
      // FROM base; COPY --from=s1; COPY --from=s2; ... : each copy takes the previous state and a stage
      let top = base;
      stages.forEach((s, i) => (top = vtx({ name: `copy${i + 1}`, inputs: [top, s] })));
      await make({ concurrency }).solve(graphOf(top), top.digest);
      const started = [...handler.execCalls.keys()];
      expect(started.filter((n) => n.startsWith('s'))).toEqual(['s1', 's2', 's3', 's4']);
      expect(started.filter((n) => n.startsWith('copy'))).toEqual(['copy1', 'copy2', 'copy3', 'copy4']);
    }
  });

  it('never runs vertices the target does not reach', async () => {
    const { handler, make } = setup();
    const broken = vtx({ name: 'broken', fail: 'boom' });
    const ok = vtx({ name: 'ok' });
    const g = graphOf(broken, ok);
    await make().solve(g, ok.digest);
    expect(handler.execCount('broken')).toBe(0);
    expect(handler.cacheMapCalls.get('broken')).toBeUndefined();
  });

  it('fails fast: the first error aborts running siblings and is the one reported', async () => {
    const { handler, make, events, cache } = setup();
    const slow = vtx({ name: 'slow', delayMs: 5_000 });
    const quick = vtx({ name: 'quick' });
    const bad = vtx({ name: 'bad', fail: 'exit code: 3', inputs: [quick] });
    const after = vtx({ name: 'after', inputs: [bad] });
    const top = vtx({ name: 'top', inputs: [slow, after] });
    const t0 = Date.now();
    const err = await make().solve(graphOf(top), top.digest).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(err).toMatchObject({ code: 'SOLVE_FAILED', message: 'exit code: 3', vertex: { name: 'bad' } });
    expect(handler.aborted.has('slow')).toBe(true);
    expect(handler.execCount('after')).toBe(0);
    expect(handler.execCount('top')).toBe(0);
    const errs = typesOf(events, 'vertex.error');
    expect(errs.map((e) => e.type === 'vertex.error' && [e.digest, e.canceled])).toEqual(
      expect.arrayContaining([
        [bad.digest, false],
        [slow.digest, true],
      ]),
    );
    // the step that completed stays cached; the failed and cancelled ones are not recorded
    const names = [...cache.records.values()].map((r) => r.vertex.name);
    expect(names).toEqual(['quick']);
  });

  it('cancels on the caller signal (Ctrl-C) and keeps completed steps cached', async () => {
    const { handler, make, cache } = setup();
    const done = vtx({ name: 'done' });
    const long = vtx({ name: 'long', delayMs: 5_000, inputs: [done] });
    const ac = new AbortController();
    const p = make({ signal: ac.signal }).solve(graphOf(long), long.digest);
    setTimeout(() => ac.abort(), 50);
    const err = await p.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SOLVE_CANCELED' });
    expect(handler.aborted.has('long')).toBe(true);
    expect([...cache.records.values()].map((r) => r.vertex.name)).toEqual(['done']);
  });

  it('streams logs and completion events in order for each vertex', async () => {
    const { make, events } = setup();
    const a = vtx({ name: 'a', logs: ['hello\n', 'world\n'] });
    await make().solve(graphOf(a), a.digest);
    const mine = events.filter((e) => e.digest === a.digest).map((e) => e.type);
    expect(mine).toEqual(['vertex.cacheMiss', 'vertex.started', 'vertex.log', 'vertex.log', 'vertex.completed']);
    const logs = typesOf(events, 'vertex.log').map((e) => (e.type === 'vertex.log' ? Buffer.from(e.data).toString() : ''));
    expect(logs.join('')).toBe('hello\nworld\n');
  });

  it('reports an unknown op kind as an error of that vertex', async () => {
    const cache = new MemoryCacheStore();
    const v = { digest: 'sha256:x', op: { kind: 'nope' }, inputs: [], name: 'odd' };
    const err = await new Solver({ handlers: {}, cache }).solve(new Map([[v.digest, v]]), v.digest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SOLVE_NO_HANDLER', vertex: { name: 'odd' } });
  });
});

describe('cache-miss explanations', () => {
  const scope = 'Dockerfile#default';
  function build(opts: { greeting: string; file: string; base: string; extra?: boolean }) {
    const from = vtx({ name: '[1/4] FROM busybox', seed: opts.base, components: { image: opts.base } });
    const copy = vtx({ name: '[2/4] COPY src/ ./', seed: opts.file, components: { 'file:src/words.txt': opts.file }, inputs: [from] });
    const run = vtx({ name: '[3/4] RUN make', seed: opts.greeting, components: { 'arg:GREETING': opts.greeting, 'op:cmd': 'make' }, inputs: [copy] });
    const last = vtx({ name: '[4/4] RUN install', components: { 'op:cmd': 'install' }, inputs: [run] });
    const top = opts.extra ? vtx({ name: '[5/5] RUN extra', components: { 'op:cmd': 'extra' }, inputs: [last] }) : last;
    return { g: graphOf(top), target: top.digest };
  }
  const base = { greeting: 'hi', file: 'sha256:aaa', base: 'sha256:111' };

  async function reasons(history: MemoryHistoryStore, cache: MemoryCacheStore, handler: FakeHandler, b: ReturnType<typeof build>) {
    const events: ProgressEvent[] = [];
    await new Solver<FakeVertex>({ handlers: { fake: handler }, cache, history: { store: history, scope }, onEvent: (e) => events.push(e) }).solve(b.g, b.target);
    return Object.fromEntries(
      events.flatMap((e) => (e.type === 'vertex.cacheMiss' ? [[e.name, `${e.reason.kind}: ${e.reason.message}`]] : [])),
    );
  }

  it('names the first build, then the context file, ARG, base image and earlier step that changed', async () => {
    const history = new MemoryHistoryStore();
    const cache = new MemoryCacheStore();
    const handler = new FakeHandler();
    const first = await reasons(history, cache, handler, build(base));
    expect(Object.values(first).every((r) => r.startsWith('first-build'))).toBe(true);
    expect(Object.keys(first)).toHaveLength(4);

    expect(await reasons(history, cache, handler, build(base))).toEqual({});

    const fileChanged = await reasons(history, cache, handler, build({ ...base, file: 'sha256:bbb' }));
    expect(fileChanged['[2/4] COPY src/ ./']).toBe('context-file: context file "src/words.txt" changed');
    expect(fileChanged['[3/4] RUN make']).toBe('earlier-step: an earlier step ran: [2/4] COPY src/ ./ (context file "src/words.txt" changed)');
    expect(fileChanged['[4/4] RUN install']).toBe('earlier-step: an earlier step ran: [2/4] COPY src/ ./ (context file "src/words.txt" changed)');
    expect(fileChanged['[1/4] FROM busybox']).toBeUndefined();

    const argChanged = await reasons(history, cache, handler, build({ ...base, file: 'sha256:bbb', greeting: 'hello' }));
    expect(argChanged).toEqual({
      '[3/4] RUN make': 'env: ARG GREETING changed ("hi" -> "hello")',
      '[4/4] RUN install': 'earlier-step: an earlier step ran: [3/4] RUN make (ARG GREETING changed ("hi" -> "hello"))',
    });

    const baseChanged = await reasons(history, cache, handler, build({ ...base, file: 'sha256:bbb', greeting: 'hello', base: 'sha256:222' }));
    expect(baseChanged['[1/4] FROM busybox']).toMatch(/^base-image: the base image changed \(sha256:111 -> sha256:222\)/);

    const added = await reasons(history, cache, handler, build({ ...base, file: 'sha256:bbb', greeting: 'hello', base: 'sha256:222', extra: true }));
    expect(added).toEqual({ '[5/5] RUN extra': 'new-step: a new step (not in the previous build)' });
  });

  it('says when the previous result was pruned', async () => {
    const history = new MemoryHistoryStore();
    const handler = new FakeHandler();
    await reasons(history, new MemoryCacheStore(), handler, build(base));
    const r = await reasons(history, new MemoryCacheStore(), handler, build(base));
    expect(r['[1/4] FROM busybox']).toMatch(/^pruned:/);
  });
});
