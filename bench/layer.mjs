#!/usr/bin/env node
// Layer benchmark: commit a snapshot (one 512 MiB file + 10,000 small files) into a gzip layer in
// the content store, and apply it back; beside `tar -c | gzip`, `tar -c | pigz -p 2`, `tar -x`,
// `pigz -dc | tar -x` and sha256sum on the same tree. Prints medians (MB/s of uncompressed tar).
//
//   npm run build && node bench/layer.mjs        (root: overlayfs snapshotter when available)
//   BENCH_RUNS=5 BENCH_BIG_MIB=512 BENCH_SMALL=10000 KILN_SNAPSHOTTER=native node bench/layer.mjs
//
// Data: the big file alternates 1 MiB of random bytes (incompressible) with 1 MiB of generated log
// lines (compressible ~8-10x); small files are 64 B - 8 KiB of text in 100 dirs. All timings run
// with a warm page cache (the tree was just written); the store fsyncs as in real use.
import { randomBytes } from 'node:crypto';
import { promises as fs, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dist, median, sh, time, workDir } from './lib.mjs';

const { createSnapshotter, withSnapshotDir } = await import(path.join(dist, 'snapshot', 'index.js'));
const { diffSnapshot, applyLayer } = await import(path.join(dist, 'diff', 'index.js'));
const { LocalContentStore } = await import(path.join(dist, 'content', 'index.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 512);
const SMALL = Number(process.env.BENCH_SMALL ?? 10_000);
const work = workDir('kiln-bench-layer-');


function logLines(bytes, seed) {
  const parts = [];
  let n = 0;
  let i = seed;
  while (n < bytes) {
    const line = `2026-11-22T18:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}Z level=info req=${(i * 2654435761) % 1e9} path=/api/v1/items/${i % 977} status=${i % 13 ? 200 : 404} dur=${(i % 1000) / 10}ms\n`;
    parts.push(line);
    n += line.length;
    i++;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

async function makeTree(dir) {
  const out = createWriteStream(path.join(dir, 'big.bin'));
  for (let i = 0; i < BIG_MIB; i++) {
    const chunk = i % 2 ? logLines(1 << 20, i * 1000) : randomBytes(1 << 20);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  for (let d = 0; d < 100; d++) await fs.mkdir(path.join(dir, 'small', `d${d}`), { recursive: true });
  const jobs = [];
  for (let i = 0; i < SMALL; i++) {
    const size = 64 + ((i * 7919) % 8128);
    jobs.push(fs.writeFile(path.join(dir, 'small', `d${i % 100}`, `f${i}.txt`), logLines(size, i)));
    if (jobs.length >= 64) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

const root = path.join(work, 'root');
const sn = await createSnapshotter(root);
const store = await LocalContentStore.open(root);
console.log(`layer bench: snapshotter=${sn.name}, ${BIG_MIB} MiB file + ${SMALL} small files, ${RUNS} runs, ${os.availableParallelism()} cores, node ${process.version}`);

await withSnapshotDir(await sn.prepare('src-a'), makeTree);
await sn.commit('src', 'src-a');
const tree = await sn.fsDir('src');

// ---- kiln commit: snapshot -> gzip layer in the store
const commitTimes = [];
let layer;
for (let r = 0; r < RUNS; r++) {
  commitTimes.push(await time(async () => (layer = await diffSnapshot(sn, 'src', store))));
}
const tarBytes = layer.uncompressedSize;
const MB = tarBytes / 1e6;
console.log(`layer: ${(tarBytes / 2 ** 20).toFixed(0)} MiB tar -> ${(layer.descriptor.size / 2 ** 20).toFixed(0)} MiB gzip (${layer.descriptor.digest.slice(0, 19)})`);
// The same, but deflating every block (no stored blocks for incompressible data): pigz's behaviour.
const deflateAllTimes = [];
let deflateAll;
for (let r = 0; r < RUNS; r++) {
  deflateAllTimes.push(await time(async () => (deflateAll = await diffSnapshot(sn, 'src', store, { storeIncompressible: false }))));
}
console.log(`layer (deflate all blocks): ${(deflateAll.descriptor.size / 2 ** 20).toFixed(0)} MiB gzip`);

// ---- peers on the same tree
const tarFile = path.join(work, 'peer.tar');
const peer = (cmd) => {
  const ts = [];
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    sh(cmd);
    ts.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return median(ts);
};
const tGzip = peer(`tar -C ${tree} -cf - . | gzip -6 > ${work}/peer.tar.gz`);
const tPigz = peer(`tar -C ${tree} -cf - . | pigz -6 -p 2 > ${work}/peer.tar.gz`);
sh(`tar -C ${tree} -cf ${tarFile} .`);
const tSha = peer(`sha256sum ${tarFile} > /dev/null`);
const pigzSize = (await fs.stat(`${work}/peer.tar.gz`)).size;
console.log(`tar | pigz -p 2: ${(pigzSize / 2 ** 20).toFixed(0)} MiB gzip`);

// ---- kiln apply: gzip layer -> new snapshot
const applyTimes = [];
for (let r = 0; r < RUNS; r++) {
  const key = `apply-${r}`;
  const mounts = await sn.prepare(key);
  applyTimes.push(await time(() => applyLayer(store, layer.descriptor, mounts, { expectedDiffID: layer.diffID })));
  await sn.remove(key);
}
const xdir = path.join(work, 'x');
const tTarX = peer(`rm -rf ${xdir} && mkdir ${xdir} && tar -C ${xdir} -xf ${tarFile}`);
const tPigzX = peer(`rm -rf ${xdir} && mkdir ${xdir} && pigz -dc ${work}/peer.tar.gz | tar -C ${xdir} -xf -`);
const tGzipX = peer(`rm -rf ${xdir} && mkdir ${xdir} && gzip -dc ${work}/peer.tar.gz | tar -C ${xdir} -xf -`);

const rows = [
  ['kiln commit (diff + parallel gzip + store)', median(commitTimes)],
  ['kiln commit, deflating every block', median(deflateAllTimes)],
  ['tar -c | gzip -6', tGzip],
  ['tar -c | pigz -6 -p 2', tPigz],
  ['sha256sum (floor)', tSha],
  ['kiln apply (store read + gunzip + untar)', median(applyTimes)],
  ['tar -x (uncompressed)', tTarX],
  ['pigz -dc | tar -x', tPigzX],
  ['gzip -dc | tar -x', tGzipX],
];
console.log('\n| step | median s | MB/s |\n| --- | ---: | ---: |');
for (const [name, s] of rows) console.log(`| ${name} | ${s.toFixed(2)} | ${(MB / s).toFixed(0)} |`);
console.log(`\ncommit vs tar|pigz -p 2: ${(tPigz / median(commitTimes)).toFixed(2)}x (deflating all: ${(tPigz / median(deflateAllTimes)).toFixed(2)}x)   apply vs tar -x: ${(tTarX / median(applyTimes)).toFixed(2)}x   apply vs pigz -dc|tar -x: ${(tPigzX / median(applyTimes)).toFixed(2)}x`);
