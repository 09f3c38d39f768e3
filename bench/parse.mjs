// Dockerfile parser benchmark: parse (and parse + convert, when src/graph is built) of the
// upstream parser test files, the real-world conformance set, the demo Dockerfile, and
// generated files of 1,000 / 10,000 / 100,000 instructions. Prints median time,
// throughput and the time per instruction at each size (flat = linear growth).
//
//   npm run build && node bench/parse.mjs [--runs 7] [--no-convert]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const df = await import(path.join(root, 'dist/dockerfile/index.js')).catch(() => {
  console.error('dist/dockerfile/index.js is missing: run `npm run build` first');
  process.exit(1);
});
const graph = process.argv.includes('--no-convert')
  ? null
  : await import(path.join(root, 'dist/graph/index.js')).catch(() => null);

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 7);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Median wall time of `fn` (ms) over RUNS runs after `warm` warm-up runs; the median CPU
 * time of this process (user + system) is recorded too, because on a shared, loaded
 * machine wall time mostly measures the neighbours.
 */
const cpuMedians = [];
async function time(fn, warm = 3, runs = RUNS) {
  for (let i = 0; i < warm; i++) await fn();
  const xs = [];
  const cs = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cs.push((d.user + d.system) / 1000);
  }
  cpuMedians.push(median(cs));
  return median(xs);
}
const lastCpu = () => cpuMedians[cpuMedians.length - 1];

// A realistic stage: FROM with a global ARG, a stage ARG, ENV, WORKDIR, COPY --from, RUN with
// continuations, a cache mount and ARG/ENV references, a heredoc RUN, LABEL pairs, EXPOSE,
// USER, exec-form CMD (11 instructions), so the stage environment and ARG scope are exercised.
function generate(instructions) {
  const out = ['# syntax=docker/dockerfile:1', 'ARG BASE=busybox:latest'];
  let n = 1;
  for (let s = 0; n < instructions; s++) {
    const stage = [
      `FROM \${BASE} AS s${s}`,
      `ARG JOBS=${1 + (s % 8)}`,
      `ENV APP_HOME=/app${s} PATH=/app${s}/bin:$PATH`,
      `WORKDIR /src/${s}`,
      s > 0 ? `COPY --from=s${s - 1} --chown=1000:1000 /out/ ./prev/` : 'COPY --chmod=0755 src/ ./',
      `RUN --mount=type=cache,target=/cache \\\n    set -eu && \\\n    # a comment inside the continuation\n    make -j$JOBS target${s} PREFIX=$APP_HOME && \\\n    cp -r build /out`,
      `RUN <<EOF\nset -e\necho stage ${s} > /out/stage.txt\nEOF`,
      `LABEL org.example.stage="${s}" org.example.name="stage ${s}"`,
      `EXPOSE ${8000 + (s % 1000)}/tcp`,
      `USER 1000:1000`,
      `CMD ["/app/bin/server", "--port", "${8000 + (s % 1000)}"]`,
    ];
    for (const line of stage) {
      if (n >= instructions) break;
      out.push(line);
      n++;
    }
    out.push('');
  }
  return out.join('\n') + '\n';
}

const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
const rows = [];
async function bench(name, texts) {
  const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
  const asts = texts.map((t) => df.parse(t));
  const count = asts.reduce((a, x) => a + x.instructions.length, 0);
  const big = count >= 50_000;
  const parseMs = await time(() => {
    for (const t of texts) df.parse(t);
  }, big ? 1 : 3, big ? 3 : RUNS);
  const parseCpu = lastCpu();
  let convertMs = null;
  let convertCpu = null;
  let convertNote = '';
  if (graph) {
    // Not every conformance file is a buildable Dockerfile (the parser accepts any
    // keyword); parse+convert is timed over the files that convert.
    const opts = { platform: 'linux/amd64', buildPlatform: 'linux/amd64' };
    const ok = [];
    for (const t of texts) {
      try {
        await graph.convertAst(df.parse(t), opts);
        ok.push(t);
      } catch {
        // not convertible
      }
    }
    if (ok.length > 0) {
      convertMs = await time(async () => {
        for (const t of ok) await graph.convertAst(df.parse(t), opts);
      }, big ? 1 : 2, big ? 3 : RUNS);
      convertCpu = lastCpu();
      if (ok.length < texts.length) convertNote = `(${ok.length} of ${texts.length} files convert)`;
    } else convertNote = 'no file converts';
  }
  rows.push({ name, files: texts.length, count, bytes, parseMs, parseCpu, convertMs, convertCpu, convertNote });
  const line = [
    name.padEnd(28),
    String(count).padStart(7) + ' instr',
    `parse ${fmt(parseMs).padStart(9)} (cpu ${fmt(parseCpu)})`,
    `${((count / parseMs) * 1000 / 1e6).toFixed(2)} M instr/s`,
    `${((bytes / 1e6) / (parseMs / 1000)).toFixed(1)} MB/s`,
    `${((parseMs * 1000) / count).toFixed(2)} µs/instr`,
    convertMs !== null ? `parse+convert ${fmt(convertMs)} (cpu ${fmt(convertCpu)}) ${convertNote}` : convertNote,
  ];
  console.log(line.join('  '));
}

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(
  `node ${process.version}, median of ${RUNS} runs after warm-up${graph ? ', convert = src/graph convertAst' : ' (no dist/graph: parse only)'}` +
    `; ${os.cpus().length} CPUs, load average ${load()}\n`,
);

const conf = path.resolve(root, '../shared/conformance');
const readCases = (dir) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'result')))
        .map((e) => readFileSync(path.join(dir, e.name, 'Dockerfile'), 'utf8'))
    : [];
const upstream = readCases(path.join(conf, 'parser-testfiles'));
if (upstream.length) await bench('upstream testfiles (33)', upstream);
else console.log(`(skipping upstream testfiles: ${conf} not found)`);
const realWorld = readCases(path.join(conf, 'real-world'));
if (realWorld.length) {
  await bench(`real-world set (${realWorld.length})`, realWorld);
  const typical = realWorld.filter((t) => t.split('\n').length < 200);
  const per = await time(() => {
    for (const t of typical) df.parse(t);
  });
  let conv = '';
  if (graph) {
    const opts = { platform: 'linux/amd64', buildPlatform: 'linux/amd64' };
    const ok = [];
    for (const t of typical) {
      try {
        await graph.convertAst(df.parse(t), opts);
        ok.push(t);
      } catch {
        // not convertible
      }
    }
    const perConv = await time(async () => {
      for (const t of ok) await graph.convertAst(df.parse(t), opts);
    });
    conv = `, parse+convert ${fmt(perConv / ok.length)} (cpu ${fmt(lastCpu() / ok.length)}) per file over the ${ok.length} that convert`;
  }
  console.log(`  typical file (<200 lines, ${typical.length} files): median-of-runs mean parse ${fmt(per / typical.length)}${conv}`);
}
await bench('demo Dockerfile', [readFileSync(path.join(root, 'testdata/demo/Dockerfile'), 'utf8')]);
for (const n of [1_000, 10_000, 100_000]) await bench(`generated ${n.toLocaleString('en')}`, [generate(n)]);

const gen = rows.filter((r) => r.name.startsWith('generated'));
if (gen.length === 3) {
  const per = gen.map((r) => (r.parseMs / r.count) * 1000);
  const perCpu = gen.map((r) => (r.parseCpu / r.count) * 1000);
  console.log(
    `\nlinearity (parse µs/instr at 1k / 10k / 100k): wall ${per.map((x) => x.toFixed(2)).join(' / ')}` +
      ` -> 100k/1k ratio ${(per[2] / per[0]).toFixed(2)}; cpu ${perCpu.map((x) => x.toFixed(2)).join(' / ')}` +
      ` -> ratio ${(perCpu[2] / perCpu[0]).toFixed(2)}, 10k->100k ${(perCpu[2] / perCpu[1]).toFixed(2)} (1.00 = perfectly linear;` +
      ' the 1k file stays in the young generation, larger ASTs pay for promotion once)',
  );
  const c = gen.filter((r) => r.convertMs !== null).map((r) => (r.convertMs / r.count) * 1000);
  const cc = gen.filter((r) => r.convertCpu !== null).map((r) => (r.convertCpu / r.count) * 1000);
  if (c.length === 3) {
    console.log(
      `linearity (parse+convert µs/instr): wall ${c.map((x) => x.toFixed(1)).join(' / ')} -> ratio ${(c[2] / c[0]).toFixed(2)}; ` +
        `cpu ${cc.map((x) => x.toFixed(1)).join(' / ')} -> ratio ${(cc[2] / cc[0]).toFixed(2)}, 10k->100k ${(cc[2] / cc[1]).toFixed(2)}`,
    );
  }
}
console.log(`load average at the end: ${load()} (wall times on a loaded machine mostly measure the neighbours; compare CPU)`);
