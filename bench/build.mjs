// kiln build benchmark (issue 5), scenarios S1-S6, side by side with BuildKit (`docker build`,
// when a docker daemon answers) and buildah (when installed). Prints medians and ratios.
//
//   npm run build && node bench/build.mjs [--runs 3] [--scale 1] [--only S1,S3]
//
// --scale shrinks the data sizes (0.1 = a tenth of the files and bytes) for slow machines; the
// figures printed say which scale was used. Needs root, busybox-static and the built runtime.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const RUNS = Number(opt('--runs', 3));
const SCALE = Number(opt('--scale', 1));
const ONLY = opt('--only', 'S1,S2,S3,S4,S5,S6').split(',');
const kilnBin = path.join(repo, 'bin/kiln.js');
if (process.getuid() !== 0) throw new Error('needs root');

const work = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-build-'));
const root = path.join(work, 'root');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function timed(cmd, args, env = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  return ms;
}

// ---- peers -------------------------------------------------------------------------------------
const peers = [{ name: 'kiln', build: (ctx, extra = []) => timed(process.execPath, [kilnBin, '--root', root, 'build', '--progress', 'quiet', ...extra, ctx]) }];
const dockerOk = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
if (dockerOk) {
  execFileSync('sh', ['-c', `bash ${repo}/scripts/busybox-rootfs.sh - | docker import - busybox:latest`]);
  peers.push({
    name: 'buildkit',
    build: (ctx, extra = []) => timed('docker', ['build', '-q', ...extra.filter((e) => !e.startsWith('--jobs')), ctx], { DOCKER_BUILDKIT: '1' }),
  });
}
const buildahOk = spawnSync('buildah', ['--version'], { stdio: 'ignore' }).status === 0;
if (buildahOk) {
  execFileSync('sh', ['-c', `bash ${repo}/scripts/busybox-rootfs.sh - > ${work}/bb.tar && buildah from --name bbimp scratch >/dev/null && buildah add bbimp ${work}/bb.tar / >/dev/null && buildah commit bbimp busybox:latest >/dev/null`]);
  peers.push({ name: 'buildah', build: (ctx, extra = []) => timed('buildah', ['bud', '-q', '--layers', ...(extra.includes('--no-cache') ? ['--no-cache'] : []), ctx]) });
}
console.log(`peers: ${peers.map((p) => p.name).join(', ')}${dockerOk ? '' : ' (no docker daemon: BuildKit not measured)'}${buildahOk ? '' : ' (buildah not installed)'}`);
console.log(`runs: ${RUNS}, scale: ${SCALE}, cores: ${os.availableParallelism()}, load: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

execFileSync('sh', ['-c', `bash ${repo}/scripts/busybox-rootfs.sh - | ${process.execPath} ${kilnBin} --root ${root} import - busybox:latest >/dev/null`]);

// ---- fixtures ----------------------------------------------------------------------------------
function context(name, files, totalBytes) {
  const dir = path.join(work, name);
  const n = Math.max(1, Math.round(files * SCALE));
  const size = Math.max(1, Math.floor((totalBytes * SCALE) / n));
  const chunk = Buffer.alloc(size);
  for (let i = 0; i < n; i++) {
    const sub = path.join(dir, 'src', `d${i % 100}`);
    if (i < 100) mkdirSync(sub, { recursive: true });
    chunk.writeUInt32LE(i, 0);
    writeFileSync(path.join(sub, `f${i}.bin`), chunk);
  }
  return { dir, n, size };
}

const results = [];
function scenario(id, what, fn) {
  if (!ONLY.includes(id)) return;
  const row = { id, what, times: {} };
  for (const p of peers) {
    try {
      row.times[p.name] = fn(p);
    } catch (err) {
      row.times[p.name] = NaN;
      console.error(`${id} ${p.name}: ${err.message.split('\n')[0]}`);
    }
  }
  results.push(row);
  const k = row.times.kiln;
  const cols = peers.map((p) => `${p.name} ${Number.isNaN(row.times[p.name]) ? 'failed' : `${(row.times[p.name] / 1000).toFixed(2)}s`}${p.name !== 'kiln' && k ? ` (kiln/${p.name} ${(k / row.times[p.name]).toFixed(2)})` : ''}`);
  console.log(`${id} ${what}: ${cols.join(', ')}`);
}
const runs = (f) => median(Array.from({ length: RUNS }, f));

// S1: four independent `RUN sleep 1` stages joined by COPY --from (aim: under 1.2 s)
const s1 = path.join(work, 's1');
mkdirSync(s1);
writeFileSync(
  path.join(s1, 'Dockerfile'),
  [1, 2, 3, 4].map((i) => `FROM busybox AS s${i}\nRUN sleep 1 && echo ${i} > /r${i}\n`).join('') + `FROM busybox\n${[1, 2, 3, 4].map((i) => `COPY --from=s${i} /r${i} /r${i}\n`).join('')}`,
);
scenario('S1', 'four parallel RUN sleep 1 stages, cold (--no-cache)', (p) => runs(() => p.build(s1, ['--no-cache'])));
if (ONLY.includes('S1')) {
  const t = runs(() => peers[0].build(s1, ['--no-cache', '--jobs', '4']));
  console.log(`S1 kiln --jobs 4: ${(t / 1000).toFixed(2)}s`);
}

// S2-S4: 2,000-file / 50 MB context, RUN writing 100 MB
const c2 = context('s2', 2000, 50 << 20);
writeFileSync(
  path.join(c2.dir, 'Dockerfile'),
  `FROM busybox AS build\nCOPY src /src\nRUN dd if=/dev/zero of=/big bs=1048576 count=${Math.max(1, Math.round(100 * SCALE))} 2>/dev/null && du -s /src > /src-size\nFROM busybox\nCOPY --from=build /big /src-size /out/\n`,
);
scenario('S2', `cold multi-stage build, ${c2.n} files / ${((c2.n * c2.size) / 1e6).toFixed(0)} MB context + RUN writing ${Math.round(100 * SCALE)} MB`, (p) => runs(() => p.build(c2.dir, ['--no-cache'])));
scenario('S3', 'no-op rebuild of S2', (p) => {
  p.build(c2.dir);
  return runs(() => p.build(c2.dir));
});
let touch = 0;
scenario('S4', 'S2 after one context file changed', (p) =>
  runs(() => {
    appendFileSync(path.join(c2.dir, 'src', 'd7', 'f7.bin'), `change ${touch++}`);
    return p.build(c2.dir);
  }),
);

// S5: a RUN producing one 512 MiB file and 10,000 small files
const s5 = path.join(work, 's5');
mkdirSync(s5);
writeFileSync(
  path.join(s5, 'Dockerfile'),
  `FROM busybox\nRUN dd if=/dev/zero of=/big bs=1048576 count=${Math.max(1, Math.round(512 * SCALE))} 2>/dev/null && mkdir /many && cd /many && i=0; while [ $i -lt ${Math.max(1, Math.round(10000 * SCALE))} ]; do echo $i > f$i; i=$((i+1)); done\n`,
);
scenario('S5', `RUN writing one ${Math.round(512 * SCALE)} MiB file and ${Math.round(10000 * SCALE)} small files (cold)`, (p) => runs(() => p.build(s5, ['--no-cache'])));

// S6: COPY . /src of 20,000 files / 1 GB, cold then no-op
const c6 = context('s6', 20000, 1 << 30);
writeFileSync(path.join(c6.dir, 'Dockerfile'), 'FROM busybox\nCOPY . /src\n');
scenario('S6', `COPY . /src of ${c6.n} files / ${((c6.n * c6.size) / 1e6).toFixed(0)} MB, cold`, (p) => runs(() => p.build(c6.dir, ['--no-cache'])));
scenario('S6', 'S6 no-op rebuild', (p) => {
  p.build(c6.dir);
  return runs(() => p.build(c6.dir));
});

console.log(JSON.stringify({ scale: SCALE, runs: RUNS, results }, null, 1));
