#!/usr/bin/env node
// Tar codec micro-benchmark: kiln's own tar writer/reader (src/diff/tar-*.ts) vs tar-stream on the same
// entries, in memory (no disk): 20,000 files of 64 B - 8 KiB plus one 64 MiB file. Prints medians of 5.
//   npm run build && node bench/layer-tar.mjs
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { encodeHeader, TarReader } = await import(path.join(dist, 'diff', 'index.js'));

const files = [];
for (let i = 0; i < 20_000; i++) files.push({ name: `d${i % 100}/f${i}.txt`, body: Buffer.alloc(64 + ((i * 7919) % 8128), 97) });
files.push({ name: 'big.bin', body: Buffer.alloc(64 << 20, 1) });
const total = files.reduce((a, f) => a + f.body.length, 0);
const median = (xs) => [...xs].sort((a, b) => a - b)[2];
const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

function kilnPack() {
  const parts = [];
  for (const f of files) {
    parts.push(encodeHeader({ name: f.name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: f.body.length, mtime: 0, xattrs: new Map([['user.x', Buffer.from('1')]]) }));
    parts.push(f.body);
    const pad = (512 - (f.body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function tsPack() {
  const pack = tarStream.pack();
  const out = [];
  pack.on('data', (c) => out.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const f of files) {
    await new Promise((r, j) => pack.entry({ name: f.name, size: f.body.length, mode: 0o644, mtime: new Date(0), pax: { 'SCHILY.xattr.user.x': '1' } }, f.body, (e) => (e ? j(e) : r())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(out);
}

async function* chunks(b) {
  for (let i = 0; i < b.length; i += 256 * 1024) yield b.subarray(i, i + 256 * 1024);
}

async function kilnRead(buf) {
  const r = new TarReader(chunks(buf));
  let n = 0;
  for (let h = await r.next(); h; h = await r.next()) for await (const c of r.body()) n += c.length;
  return n;
}

async function tsRead(buf) {
  const ex = tarStream.extract();
  let n = 0;
  const done = (async () => {
    for await (const entry of ex) for await (const c of entry) n += c.length;
  })();
  for await (const c of chunks(buf)) if (!ex.write(c)) await new Promise((r) => ex.once('drain', r));
  ex.end();
  await done;
  return n;
}

const tar = kilnPack();
const res = { kilnPack: [], tsPack: [], kilnRead: [], tsRead: [] };
for (let i = 0; i < 5; i++) {
  res.kilnPack.push(await time(kilnPack));
  res.tsPack.push(await time(tsPack));
  res.kilnRead.push(await time(() => kilnRead(tar)));
  res.tsRead.push(await time(() => tsRead(tar)));
}
console.log(`tar codec: ${files.length} entries, ${(total / 2 ** 20).toFixed(0)} MiB of data, medians of 5`);
for (const [k, v] of Object.entries(res)) console.log(`${k.padEnd(9)} ${median(v).toFixed(3)} s  ${(total / 1e6 / median(v)).toFixed(0)} MB/s`);
