import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryCacheStore } from '../../cache/record-store.js';
import { Solver } from '../../solver/scheduler.js';
import { FakeHandler, graphOf, vtx, type FakeVertex } from '../../solver/testing.js';
import { stripAnsi } from './format.js';
import { LogCollector, PlainRenderer, RawJsonRenderer, TtyRenderer, resolveProgressMode } from './index.js';
import type { ProgressEvent } from './types.js';

function sink() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  return { out, text: () => text };
}

const T0 = 1_700_000_000_000;
const A = 'sha256:a';
const B = 'sha256:b';
const C = 'sha256:c';
const log = (digest: string, ms: number, s: string): ProgressEvent => ({ type: 'vertex.log', digest, time: T0 + ms, stream: 'stdout', data: Buffer.from(s) });

/** Two steps running at once with interleaved output, one cached, one failing. */
const script: ProgressEvent[] = [
  { type: 'vertex.cached', digest: C, time: T0, name: '[1/3] FROM docker.io/library/busybox:latest' },
  { type: 'vertex.cacheMiss', digest: A, time: T0, name: '[2/3] RUN echo a', reason: { kind: 'first-build', message: 'first build of this Dockerfile and target' } },
  { type: 'vertex.started', digest: A, time: T0, name: '[2/3] RUN echo a' },
  { type: 'vertex.started', digest: B, time: T0 + 10, name: '[3/3] RUN make' },
  log(A, 123, 'line one\nline '),
  log(B, 1510, 'compiling\n'),
  log(A, 12_345, 'two\n'),
  { type: 'vertex.completed', digest: A, time: T0 + 12_400, duration: 12_400 },
  log(B, 12_500, 'oops\n'),
  { type: 'vertex.error', digest: B, time: T0 + 12_600, duration: 12_590, canceled: false, error: 'process "/bin/sh -c make" did not complete successfully: exit code: 2' },
];

describe('plain progress', () => {
  it('prints BuildKit plain format: headers, hand-over, timestamps, DONE/CACHED/ERROR', async () => {
    const s = sink();
    const r = new PlainRenderer({ out: s.out });
    script.forEach((e) => r.onEvent(e));
    await r.close();
    expect(s.text()).toBe(
      [
        '#1 [1/3] FROM docker.io/library/busybox:latest',
        '#1 CACHED',
        '',
        '#2 [2/3] RUN echo a',
        '#2 cache miss: first build of this Dockerfile and target',
        '#2 ...',
        '',
        '#3 [3/3] RUN make',
        '#3 ...',
        '',
        '#2 [2/3] RUN echo a',
        '#2 0.123 line one',
        '#2 0.123 line ',
        '#2 ...',
        '',
        '#3 [3/3] RUN make',
        '#3 1.500 compiling',
        '#3 ...',
        '',
        '#2 [2/3] RUN echo a',
        '#2 0.123 line two',
        '#2 DONE 12.4s',
        '',
        '#3 [3/3] RUN make',
        '#3 12.49 oops',
        '#3 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        '',
      ].join('\n'),
    );
  });

  it('prints CANCELED for steps stopped by a failure elsewhere, and every output line (no clipping)', async () => {
    const s = sink();
    const r = new PlainRenderer({ out: s.out });
    r.onEvent({ type: 'vertex.started', digest: A, time: T0, name: 'big' });
    const big = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(20)}\n`).join('');
    r.onEvent(log(A, 1, big));
    r.onEvent({ type: 'vertex.error', digest: A, time: T0 + 2, canceled: true, error: 'canceled' });
    await r.close();
    const lines = s.text().split('\n');
    expect(s.text().length).toBeGreaterThan(1024 * 1024);
    expect(lines.filter((l) => l.startsWith('#1 0.001 line '))).toHaveLength(40_000);
    expect(lines.at(-2)).toBe('#1 CANCELED');
  });

  it('keeps multi-byte characters split across chunks intact', async () => {
    const s = sink();
    const r = new PlainRenderer({ out: s.out });
    r.onEvent({ type: 'vertex.started', digest: A, time: T0, name: 'utf8' });
    const bytes = Buffer.from('héllo\n');
    r.onEvent({ type: 'vertex.log', digest: A, time: T0, stream: 'stdout', data: bytes.subarray(0, 2) });
    r.onEvent({ type: 'vertex.log', digest: A, time: T0, stream: 'stdout', data: bytes.subarray(2) });
    await r.close();
    expect(s.text()).toContain('héllo\n');
  });
});

describe('tty progress', () => {
  it('draws timers, CACHED/ERROR marks, miss reasons and the last output lines, redrawing in place', async () => {
    const s = sink();
    let now = T0;
    const r = new TtyRenderer({ out: s.out, now: () => now, interval: 0, columns: 80, rows: 40, color: false, logLines: 2 });
    for (const e of script.slice(0, 6)) {
      now = e.time;
      r.onEvent(e);
    }
    now = T0 + 2_000;
    expect(r.frame(false)).toEqual([
      '[+] Building 2.0s (1/3)',
      ' => CACHED [1/3] FROM docker.io/library/busybox:latest                      0.0s',
      ' => [2/3] RUN echo a                                                        2.0s',
      ' => => cache miss: first build of this Dockerfile and target',
      ' => => # line one',
      ' => => # line ',
      ' => [3/3] RUN make                                                          2.0s',
      ' => => # compiling',
    ]);
    for (const e of script.slice(6)) {
      now = e.time;
      r.onEvent(e);
    }
    await r.close();
    const final = r.frame(true);
    expect(final[0]).toBe('[+] Building 12.6s (2/3) FINISHED WITH ERRORS');
    expect(final[2]).toBe(' => [2/3] RUN echo a                                                       12.4s');
    expect(final).toContain(' => ERROR [3/3] RUN make                                                   12.6s');
    expect(final).toContain(' => => # oops');
    // every frame starts by moving the cursor up over the previous one
    expect(s.text()).toContain('\x1b[8A');
    expect(stripAnsi(s.text())).toContain('FINISHED WITH ERRORS');
  });

  it('throttles redraws to the interval', async () => {
    const s = sink();
    let now = T0;
    const r = new TtyRenderer({ out: s.out, now: () => now, interval: 1_000, color: false });
    let writes = 0;
    s.out.on('data', () => writes++);
    r.onEvent({ type: 'vertex.started', digest: A, time: now, name: 'x' });
    for (let i = 0; i < 500; i++) r.onEvent(log(A, i, `line ${i}\n`));
    await new Promise((res) => setImmediate(res));
    expect(writes).toBeLessThanOrEqual(1);
    now += 5_000;
    await r.close();
    expect(stripAnsi(s.text())).toContain('# line 499');
  });

  it('fits a frame taller than the terminal by dropping finished steps first', () => {
    const s = sink();
    const r = new TtyRenderer({ out: s.out, now: () => T0, interval: 0, columns: 60, rows: 6, color: false });
    for (let i = 0; i < 10; i++) r.onEvent({ type: 'vertex.cached', digest: `d${i}`, time: T0, name: `step ${i}` });
    r.onEvent({ type: 'vertex.started', digest: 'run', time: T0, name: 'running step' });
    const f = r.frame(false);
    expect(f.length).toBeLessThanOrEqual(5);
    expect(f.some((l) => l.includes('running step'))).toBe(true);
    void r.close();
  });
});

describe('rawjson and mode selection', () => {
  it('prints one JSON event per line with output as base64 and text', async () => {
    const s = sink();
    const r = new RawJsonRenderer({ out: s.out });
    script.forEach((e) => r.onEvent(e));
    await r.close();
    const lines = s.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(script.length);
    const firstLog = lines.find((l) => l.type === 'vertex.log')!;
    expect(Buffer.from(firstLog.data as string, 'base64').toString()).toBe('line one\nline ');
    expect(firstLog.text).toBe('line one\nline ');
    expect(lines.at(-1)).toMatchObject({ type: 'vertex.error', canceled: false, digest: B });
  });

  it('auto picks tty only on a terminal', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    expect(resolveProgressMode('auto', tty, {})).toBe('tty');
    expect(resolveProgressMode('auto', tty, { TERM: 'dumb' })).toBe('plain');
    expect(resolveProgressMode('auto', new PassThrough(), {})).toBe('plain');
    expect(resolveProgressMode('rawjson', tty, {})).toBe('rawjson');
  });
});

describe('renderers fed by a real solve', () => {
  it('plain shows each shared step once, then CACHED on a rebuild', async () => {
    const handler = new FakeHandler();
    const cache = new MemoryCacheStore();
    const base = vtx({ name: '[base 1/1] FROM scratch' });
    const a = vtx({ name: '[a 1/1] RUN a', inputs: [base], logs: ['built a\n'] });
    const b = vtx({ name: '[b 1/1] RUN b', inputs: [base] });
    const top = vtx({ name: '[final 1/1] COPY', inputs: [a, b] });
    const run = async () => {
      const s = sink();
      const r = new PlainRenderer({ out: s.out });
      const logs = new LogCollector();
      await new Solver<FakeVertex>({ handlers: { fake: handler }, cache, concurrency: 1, onEvent: (e) => (r.onEvent(e), logs.onEvent(e)) }).solve(graphOf(top), top.digest);
      await r.close();
      return s.text();
    };
    const first = await run();
    expect(first.match(/^#\d+ \[base 1\/1\] FROM scratch$/gm)).toHaveLength(1);
    expect(first).toMatch(/^#\d+ \d\.\d{3} built a$/m);
    expect(first.match(/^#\d+ DONE \d+\.\ds$/gm)).toHaveLength(4);
    const second = await run();
    expect(second.match(/^#\d+ CACHED$/gm)).toHaveLength(4);
    expect(second).not.toContain('DONE');
  });
});
