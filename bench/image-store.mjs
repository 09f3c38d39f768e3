#!/usr/bin/env node
// Content store and image command benchmark: put/get of a blob (verified, fsynced) beside sha256sum,
// `kiln import` of a plain rootfs tar beside `gzip -c` and `pigz -p 2` (since import and load also
// unpack the image into snapshots, as docker does, they include that), and `kiln save` / `kiln load`
// of the result. Prints medians in MB/s of the input bytes.
//
//   npm run build && node bench/image-store.mjs
//   BENCH_RUNS=5 BENCH_MIB=512 node bench/image-store.mjs
//
// Data: a tar with one file alternating 1 MiB random bytes and 1 MiB of log lines (like bench/layer.mjs),
// plus 2,000 small text files. Warm page cache.
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { dist, median, sh, time, workDir } from './lib.mjs';

const { LocalContentStore } = await import(path.join(dist, 'content', 'index.js'));
const { main } = await import(path.join(dist, 'cli', 'main.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MIB = Number(process.env.BENCH_MIB ?? 256);
const work = workDir('kiln-bench-image-');

const has = (tool) => {
  try {
    execSync(`command -v ${tool}`, { stdio: 'ignore', shell: '/bin/bash' });
    return true;
  } catch {
    return false;
  }
};
const devnull = { write: () => true };
async function kiln(...args) {
  const code = await main(args, { stdout: devnull, stderr: process.stderr });
  if (code !== 0) throw new Error(`kiln ${args.join(' ')} exited ${code}`);
}

function logLines(bytes, seed) {
  const parts = [];
  let n = 0;
  for (let i = seed; n < bytes; i++) {
    const line = `2026-11-22T18:00:${String(i % 60).padStart(2, '0')}Z level=info req=${(i * 2654435761) % 1e9} path=/api/items/${i % 977} status=200\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

const tree = path.join(work, 'tree');
await fs.mkdir(path.join(tree, 'small'), { recursive: true });
{
  const fh = await fs.open(path.join(tree, 'big.bin'), 'w');
  for (let i = 0; i < MIB; i++) await fh.write(i % 2 ? logLines(1 << 20, i * 1000) : randomBytes(1 << 20));
  await fh.close();
  for (let i = 0; i < 2000; i++) await fs.writeFile(path.join(tree, 'small', `f${i}.txt`), logLines(64 + ((i * 97) % 8000), i));
}
const tarFile = path.join(work, 'rootfs.tar');
sh(`tar -C ${tree} -cf ${tarFile} .`);
const bytes = statSync(tarFile).size;
const mbps = (s) => (bytes / 1e6 / s).toFixed(0);

const results = {};
async function measure(name, setup, fn) {
  const xs = [];
  for (let i = 0; i < RUNS; i++) {
    if (setup) await setup();
    xs.push(await time(fn));
  }
  results[name] = median(xs);
}

await measure('sha256sum (floor)', null, () => sh(`sha256sum ${tarFile}`));
let store;
await measure(
  'content put (verify+fsync)',
  async () => {
    await fs.rm(path.join(work, 'cs'), { recursive: true, force: true });
    store = await LocalContentStore.open(path.join(work, 'cs'));
  },
  () => store.put(createReadStream(tarFile, { highWaterMark: 1 << 20 })),
);
const { digest } = await store.put(createReadStream(tarFile));
await measure('content get (verified read)', null, async () => {
  for await (const _ of store.get(digest)); // eslint-disable-line no-unused-vars
});
await measure('gzip -c', null, () => sh(`gzip -c ${tarFile} > /dev/null`));
if (has('pigz')) await measure('pigz -p 2', null, () => sh(`pigz -p 2 -c ${tarFile} > /dev/null`));
const root = path.join(work, 'root');
await measure('kiln import (gzip layer + unpack)', () => fs.rm(root, { recursive: true, force: true }), () => kiln('--root', root, 'import', tarFile, 'bench:1'));
const saved = path.join(work, 'saved.tar');
await measure('kiln save', () => fs.rm(saved, { force: true }), () => kiln('--root', root, 'save', 'bench:1', '-o', saved));
const root2 = path.join(work, 'root2');
await measure('kiln load', () => fs.rm(root2, { recursive: true, force: true }), () => kiln('--root', root2, 'load', '-i', saved));

console.log(`input: ${(bytes / 1e6).toFixed(0)} MB tar (${MIB} MiB half-random file + 2000 small files), ${RUNS} runs, medians, ${os.availableParallelism()} cores`);
const base = results['pigz -p 2'] ?? results['gzip -c'];
for (const [name, s] of Object.entries(results)) {
  console.log(`${name.padEnd(34)} ${s.toFixed(2).padStart(7)} s  ${mbps(s).padStart(6)} MB/s${name.startsWith('kiln import') ? `   (${(base / s).toFixed(2)}x of ${results['pigz -p 2'] ? 'pigz -p 2' : 'gzip'})` : ''}`);
}
