// Build contexts for bench/build.mjs: many files of real source code (slices of the JavaScript
// under the repository's node_modules, so they compress and hash like a real project's files;
// generated text when node_modules is missing), spread over directories of 100.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Deterministic PRNG (mulberry32) so every run generates the same bytes. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'const let return function import export from if else for while await async class new this ' +
  'value index result error buffer stream path file root layer digest cache key node entry size ' +
  'mode owner hash config image store build stage copy run map set push length string number'
).split(' ');

/** Up to `bytes` of .js files under `dir`, in a stable (sorted) order. */
function jsPool(dir, bytes) {
  const parts = [];
  let n = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    } catch {
      return;
    }
    for (const e of entries) {
      if (n >= bytes) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.js')) {
        const b = readFileSync(p);
        parts.push(b);
        n += b.length;
      }
    }
  };
  walk(dir);
  return Buffer.concat(parts).subarray(0, bytes);
}

/** Generated source-like text (a fallback: deflates more slowly than real code). */
function textPool(bytes, rnd) {
  const parts = [];
  let n = 0;
  while (n < bytes) {
    const indent = '  '.repeat(Math.floor(rnd() * 4));
    const words = Array.from({ length: 3 + Math.floor(rnd() * 8) }, () => WORDS[Math.floor(rnd() * WORDS.length)]);
    const line = `${indent}${words.join(' ')}(${Math.floor(rnd() * 100000)});\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join(''));
}

/**
 * Writes `files` files totalling about `bytes` under `dir/src/dNNN/`, sizes uniform in
 * [0.5, 1.5] x the mean, each starting with a line naming it (so no two files are equal).
 * Returns { dir, files, bytes } with the exact totals written.
 */
export function makeContext(dir, { files, bytes, seed = 1, sourceDir }) {
  const rnd = prng(seed);
  let pool = sourceDir ? jsPool(sourceDir, 8 << 20) : Buffer.alloc(0);
  if (pool.length < 1 << 20) pool = textPool(4 << 20, rnd);
  const mean = Math.max(1, Math.floor(bytes / files));
  let total = 0;
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, 'src', `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    const size = Math.max(16, Math.floor(mean * (0.5 + rnd())));
    const header = Buffer.from(`// file ${i}\n`);
    const bodyLen = Math.max(0, size - header.length);
    const chunks = [header];
    let left = bodyLen;
    while (left > 0) {
      const n = Math.min(left, pool.length >> 1);
      const off = Math.floor(rnd() * (pool.length - n));
      chunks.push(pool.subarray(off, off + n));
      left -= n;
    }
    const data = Buffer.concat(chunks);
    writeFileSync(path.join(sub, `f${i}.js`), data);
    total += data.length;
  }
  return { dir, files, bytes: total };
}

/** The file S4 edits (one file of the S2 context). */
export const touchedFile = (dir) => path.join(dir, 'src', 'd007', 'f742.js');
