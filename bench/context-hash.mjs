// Build-context hashing: cold (no digest cache) vs no-op rebuild (answered by the selection
// memo, and by the per-file digest cache alone with the memo off) on a generated 20,000-file context, with `tar | sha256sum` over the same tree as a peer
// (what sending a whole context costs without any cache).
//
//   npm run build && node bench/context-hash.mjs [--files 20000] [--runs 5]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { hashContextPaths } = await import(path.join(here, '../dist/context/index.js')).catch(() => {
  console.error('dist/context/index.js is missing: run `npm run build` first');
  process.exit(1);
});

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const FILES = arg('--files', 20_000);
const RUNS = arg('--runs', 5);
const PER_DIR = 100;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;
/** Wall and CPU (user+system of this process) time of one call. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await fn();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000, res };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-ctx-'));
const ctx = path.join(tmp, 'ctx');
try {
  // 20,000 files in 200 directories (two levels), 64 B – 8 KiB each, plus an ignored
  // node_modules with 5,000 more files that must never be read.
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(ctx, 'src', `pkg${Math.floor(i / (PER_DIR * 10))}`, `mod${Math.floor(i / PER_DIR)}`);
    if (i % PER_DIR === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${i}.txt`), Buffer.alloc(64 + (rnd() % 8128), i % 251));
  }
  for (let i = 0; i < 5000; i++) {
    const dir = path.join(ctx, 'node_modules', `m${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `i${i}.js`), 'x');
  }
  // A realistic ignore file: a skipped directory, wildcard rules evaluated for every entry,
  // and one re-included path.
  writeFileSync(
    path.join(ctx, '.dockerignore'),
    ['node_modules', '.git', '*.log', '**/*.tmp', 'src/**/cache', '!src/pkg1/mod10/f1000.txt'].join('\n') + '\n',
  );
  // Let the files age past the racy-timestamp window of the cache.
  await new Promise((r) => setTimeout(r, 50));

  const selections = [{ src: ['.'], followLinks: true }];
  console.log(`load average: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
  console.log(`context: ${FILES} selected files (+5000 ignored in node_modules), ${RUNS} runs each`);

  const cold = [];
  const coldCpu = [];
  let digest;
  for (let r = 0; r < RUNS; r++) {
    const root = path.join(tmp, `root-cold-${r}`);
    const { wall, cpu, res } = await timed(() => hashContextPaths(ctx, selections, { root }));
    cold.push(wall);
    coldCpu.push(cpu);
    digest = res.digest;
    if (r === 0) console.log(`  files listed: ${res.files.length}, read: ${res.stats.filesRead}, dirs skipped: ${res.stats.dirsSkipped}`);
  }

  const root = path.join(tmp, 'root-warm');
  await hashContextPaths(ctx, selections, { root });
  const noop = [];
  const noopCpu = [];
  let lastStats;
  for (let r = 0; r < RUNS * 2; r++) {
    const { wall, cpu, res } = await timed(() => hashContextPaths(ctx, selections, { root }));
    noop.push(wall);
    noopCpu.push(cpu);
    if (res.digest !== digest) throw new Error('no-op digest differs from cold digest');
    lastStats = res.stats;
  }
  if (lastStats.filesRead !== 0) throw new Error(`no-op run read ${lastStats.filesRead} files`);
  if (lastStats.memoHits !== 1) throw new Error('the no-op run was not answered by the selection memo');

  const noMemo = [];
  for (let r = 0; r < RUNS * 2; r++) {
    const { wall, res } = await timed(() => hashContextPaths(ctx, selections, { root, memo: false }));
    if (res.digest !== digest || res.stats.filesRead !== 0) throw new Error('no-op without the memo differs or read files');
    noMemo.push(wall);
  }

  // One selected subdirectory (COPY src/pkg3 ...): only that part is walked.
  const sub = [];
  for (let r = 0; r < RUNS * 2; r++) {
    const t0 = performance.now();
    await hashContextPaths(ctx, [{ src: ['src/pkg3'], followLinks: true }], { root });
    sub.push(performance.now() - t0);
  }

  const peer = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    execFileSync('sh', ['-c', `tar -C '${ctx}' --exclude=./node_modules -cf - . | sha256sum`], { stdio: 'ignore' });
    peer.push(performance.now() - t0);
  }

  const c = median(cold);
  const n = median(noop);
  const p = median(peer);
  console.log(`  cold hash (empty cache):      median ${ms(c)}  cpu ${ms(median(coldCpu))}  (${((FILES / c) * 1000).toFixed(0)} files/s)`);
  console.log(`  no-op rebuild (cache warm):   median ${ms(n)}  cpu ${ms(median(noopCpu))}  (${(c / n).toFixed(1)}x faster than cold, 0 files read; selection memo)`);
  console.log(`  no-op, digest cache only:     median ${ms(median(noMemo))}  (memo off: walk, per-file lookups, directory digests)`);
  console.log(`  one subdir (1,000 files):     median ${ms(median(sub))}`);
  console.log(`  peer: tar | sha256sum:        median ${ms(p)}  (no-op is ${(p / n).toFixed(1)}x faster; cold/peer ${(c / p).toFixed(2)})`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
