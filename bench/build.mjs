// kiln build benchmark (issue 5): scenarios S1-S6 side by side with BuildKit (docker 20.10's,
// when a docker daemon answers) and buildah (when installed). Prints every run with the load
// average beside it, then medians of wall time and CPU, and the ratios kiln/peer.
//
//   npm run build && node bench/build.mjs [--runs 3] [--quick] [--only S1,S3] [--peers kiln,buildkit] [--settle 5]
//        [--kiln path/to/bin/kiln.js] [--dockerd-pid PID] [--json out.json] [--keep-node-env]
//
// Needs root and busybox-static. All peers start from the same busybox rootfs tarball
// (scripts/busybox-rootfs.sh; no registry is used): `kiln import`, `docker import`, and for
// buildah `buildah add` into a scratch container. Cache state is matched per scenario:
//   cold  = kiln: a fresh root; BuildKit: `docker builder prune -af` and the built images removed;
//           buildah: every image and container removed, busybox re-imported (reset is not timed)
//   no-op = an immediate rebuild after an untimed warm-up build
// Runs are interleaved (run 1 of every peer, then run 2 ...; the order rotates) so a change of
// load on a shared machine hits every peer alike. After a cold reset the bench syncs and waits
// --settle seconds (default 5): ext4 without a journal (this VM's root) scans recently deleted
// inodes when it allocates new ones (find_inode_bit -> recently_deleted: 5 s after a delete once
// the inode table is written back), so a build creating thousands of files right after the reset
// deleted thousands paid for the reset (S5 BuildKit 6.8-14 s, kiln 4.6 s alone vs 9.6 s timed). --quick shrinks S5/S6 for a smoke run.
// The docker CLI is /usr/bin/docker (Debian's, with the BuildKit client built in; set
// DOCKER_HOST for a daemon on another socket). CPU for BuildKit counts dockerd's CPU when its
// pid is known (--dockerd-pid, or /var/run/docker.pid).
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeContext, touchedFile } from './build-fixtures.mjs';
import { KILN_ENV, buildahPeer, buildkitPeer, kilnPeer } from './build-peers.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const QUICK = process.argv.includes('--quick');
const SETTLE_S = Number(opt('--settle', 5));
const RUNS = Number(opt('--runs', 3));
const ALL = ['S1', 'S1j4', 'S2', 'S3', 'S4', 'S5', 'S6', 'S6n'];
const ONLY = opt('--only', ALL.join(',')).split(',');
const PEERS = opt('--peers', 'kiln,buildkit,buildah').split(',');
const kilnBin = path.resolve(opt('--kiln', path.join(repo, 'bin/kiln.js')));
const jsonOut = opt('--json');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs: a positive whole number');
if (!(SETTLE_S >= 0)) throw new Error('--settle: seconds, 0 or more');
for (const id of ONLY) if (!ALL.includes(id)) throw new Error(`--only: unknown scenario ${id} (${ALL.join(', ')})`);
if (process.getuid() !== 0) {
  console.error('bench/build.mjs needs root (builds run containers and mount snapshots)');
  process.exit(2);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-build-'));
const load = () => os.loadavg()[0];
const fmtLoad = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

// ---- peers ---------------------------------------------------------------------------------------
const all = [
  kilnPeer({ kilnBin, work }),
  buildkitPeer({ dockerdPid: opt('--dockerd-pid') }),
  buildahPeer({ work }),
];
const peers = [];
for (const p of all) {
  if (!PEERS.includes(p.name)) continue;
  const why = p.reason();
  if (why) console.log(`skipping ${p.name}: ${why}`);
  else peers.push(p);
}
if (!peers.some((p) => p.name === 'kiln')) throw new Error(`kiln is not usable: ${all[0].reason()}`);

let kilnRev = process.env.KILN_REV;
if (!kilnRev) {
  try {
    kilnRev = execFileSync('git', ['-C', path.dirname(path.dirname(kilnBin)), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    kilnRev = 'unknown';
  }
}
console.log(`# kiln build benchmark  ${new Date().toISOString()}`);
console.log(`kiln ${kilnRev} (${kilnBin}); ${peers.filter((p) => p.version).map((p) => `${p.name}: ${p.version}`).join('; ')}`);
if (process.env.NODE_EXTRA_CA_CERTS) {
  console.log(
    'NODE_EXTRA_CA_CERTS is set here: Node parses that CA bundle at every start (~65 ms). ' +
      ('NODE_EXTRA_CA_CERTS' in KILN_ENV ? 'kiln runs without it (no scenario uses TLS); --keep-node-env keeps it.' : 'kept for kiln (--keep-node-env).'),
  );
}
console.log(`runs: ${RUNS}${QUICK ? ', --quick (S5/S6 scaled down)' : ''}; settle after a cold reset: ${SETTLE_S} s; cores: ${os.availableParallelism()}; memory: ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average: ${fmtLoad()}`);

const baseTar = path.join(work, 'busybox.tar');
execFileSync('bash', [path.join(repo, 'scripts/busybox-rootfs.sh'), baseTar], { stdio: ['ignore', 'ignore', 'inherit'] });
for (const p of [...peers]) {
  try {
    p.setup(baseTar);
    p.reset();
  } catch (e) {
    console.log(`skipping ${p.name}: set-up failed: ${e.message}`);
    peers.splice(peers.indexOf(p), 1);
  }
}

// ---- scenarios -----------------------------------------------------------------------------------
function dockerfileDir(name, text) {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'Dockerfile'), text);
  return dir;
}
const want = (...ids) => ids.some((id) => ONLY.includes(id));

const S1 = want('S1', 'S1j4')
  ? dockerfileDir(
      's1',
      [1, 2, 3, 4].map((i) => `FROM busybox AS s${i}\nRUN sleep 1 && echo ${i} > /r${i}\n\n`).join('') +
        `FROM busybox\n${[1, 2, 3, 4].map((i) => `COPY --from=s${i} /r${i} /r${i}\n`).join('')}`,
    )
  : null;

// S2: 2,000 files / 50 MB of source, a dependency stage, a RUN writing 100 MB, a slim final stage.
const S2 = want('S2', 'S3', 'S4') ? makeContext(path.join(work, 's2'), { files: 2000, bytes: 50e6, seed: 2, sourceDir: path.join(repo, 'node_modules') }) : null;
if (S2) {
  writeFileSync(
    path.join(S2.dir, 'Dockerfile'),
    `FROM busybox AS deps
RUN mkdir /deps && echo lib1 lib2 > /deps/list

FROM busybox AS build
COPY --from=deps /deps /deps
COPY src /src
RUN dd if=/dev/urandom of=/app.bin bs=1048576 count=100 2>/dev/null && find /src -type f | wc -l > /count

FROM busybox
COPY --from=build /app.bin /count /app/
`,
  );
}

const S5 = want('S5')
  ? (() => {
      const mib = QUICK ? 64 : 512;
      const small = QUICK ? 1000 : 10000;
      return {
        mib,
        small,
        dir: dockerfileDir(
          's5',
          `FROM busybox
RUN dd if=/dev/urandom of=/big bs=1048576 count=${mib} 2>/dev/null && mkdir /many && cd /many && i=0 && while [ $i -lt ${small} ]; do echo $i > f$i; i=$((i+1)); done
`,
        ),
      };
    })()
  : null;

const S6 = want('S6', 'S6n') ? makeContext(path.join(work, 's6'), { ...(QUICK ? { files: 2000, bytes: 100e6 } : { files: 20000, bytes: 1e9 }), seed: 6, sourceDir: path.join(repo, 'node_modules') }) : null;
if (S6) writeFileSync(path.join(S6.dir, 'Dockerfile'), 'FROM busybox\nCOPY . /src\n');

const mb = (c) => `${c.files} files / ${(c.bytes / 1e6).toFixed(0)} MB`;
let touches = 0;
const scenarios = [
  { id: 'S1', what: 'four `RUN sleep 1` stages joined by COPY --from, cold (kiln default --jobs = cores)', dir: S1, tag: 'kbench-s1', mode: 'cold' },
  { id: 'S1j4', what: 'S1 with --jobs 4 for kiln and buildah (BuildKit has no limit)', dir: S1, tag: 'kbench-s1', mode: 'cold', jobs: 4 },
  { id: 'S2', what: S2 && `cold multi-stage build, ${mb(S2)} context, RUN writing 100 MB`, dir: S2?.dir, tag: 'kbench-s2', mode: 'cold' },
  { id: 'S3', what: 'no-op rebuild of S2', dir: S2?.dir, tag: 'kbench-s2', mode: 'noop' },
  {
    id: 'S4',
    what: 'S2 after one context file changed',
    dir: S2?.dir,
    tag: 'kbench-s2',
    mode: 'noop',
    before: () => appendFileSync(touchedFile(S2.dir), `// change ${++touches}\n`),
  },
  { id: 'S5', what: S5 && `RUN writing one ${S5.mib} MiB file and ${S5.small} small files, cold`, dir: S5?.dir, tag: 'kbench-s5', mode: 'cold' },
  { id: 'S6', what: S6 && `COPY . /src of ${mb(S6)}, cold`, dir: S6?.dir, tag: 'kbench-s6', mode: 'cold' },
  { id: 'S6n', what: 'S6 no-op rebuild', dir: S6?.dir, tag: 'kbench-s6', mode: 'noop' },
].filter((sc) => ONLY.includes(sc.id));

// ---- measuring -----------------------------------------------------------------------------------
/** Let the reset's deletions reach the disk and age out of ext4's "recently deleted" window. */
function settle() {
  if (SETTLE_S === 0) return;
  execFileSync('sync');
  execFileSync('sleep', [String(SETTLE_S)]);
}

const results = [];
for (const sc of scenarios) {
  console.log(`\n## ${sc.id}: ${sc.what}`);
  const row = { id: sc.id, what: sc.what, peers: {} };
  for (const p of peers) row.peers[p.name] = { wall: [], cpu: [], load: [], error: null };
  for (let run = 0; run < RUNS; run++) {
    const order = peers.map((_, i) => peers[(i + run) % peers.length]);
    for (const p of order) {
      const r = row.peers[p.name];
      if (r.error) continue;
      const opts = { tag: sc.tag, jobs: sc.jobs };
      try {
        if (sc.mode === 'cold') {
          p.reset();
          settle();
        } else if (run === 0) p.build(sc.dir, opts); // warm-up: the state a no-op rebuild starts from
        sc.before?.();
        const l0 = load();
        const { ms, cpuMs } = p.build(sc.dir, opts);
        const l1 = load();
        r.wall.push(ms);
        r.cpu.push(cpuMs);
        r.load.push((l0 + l1) / 2);
        console.log(`${sc.id} run ${run + 1} ${p.name.padEnd(8)} ${s(ms).padStart(9)}  cpu ${s(cpuMs).padStart(9)}  load ${l0.toFixed(2)} -> ${l1.toFixed(2)}`);
      } catch (e) {
        r.error = e.message;
        console.log(`${sc.id} ${p.name} FAILED: ${e.message}`);
      }
    }
  }
  results.push(row);
}

// ---- summary -------------------------------------------------------------------------------------
const others = peers.filter((p) => p.name !== 'kiln').map((p) => p.name);
const cell = (r) => (!r ? 'n/a' : r.error ? 'failed' : `${s(median(r.wall))} (cpu ${s(median(r.cpu))})`);
const ratio = (a, b) => (a && b && !a.error && !b.error ? (median(a.wall) / median(b.wall)).toFixed(2) : '-');
const loads = (row) => {
  const l = Object.values(row.peers).flatMap((r) => r.load);
  return l.length ? `${Math.min(...l).toFixed(1)}-${Math.max(...l).toFixed(1)}` : '-';
};
console.log(`\n## Medians of ${RUNS} runs (wall, and CPU of the build's processes), ratio = kiln wall / peer wall`);
const header = ['scenario', 'kiln', ...others.flatMap((o) => [o, `kiln/${o}`]), 'load (1 min)'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const row of results) {
  const k = row.peers.kiln;
  const cols = [`${row.id} ${row.what}`, cell(k), ...others.flatMap((o) => [cell(row.peers[o]), ratio(k, row.peers[o])]), loads(row)];
  console.log(`| ${cols.join(' | ')} |`);
}
for (const row of results) for (const [name, r] of Object.entries(row.peers)) if (r.error) console.log(`\n${row.id} ${name} failed:\n${r.error}`);
console.log(`\nload average at the end: ${fmtLoad()}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), kilnRev, runs: RUNS, quick: QUICK, cores: os.availableParallelism(), results }, null, 1));

for (const p of peers) {
  try {
    p.cleanup();
  } catch (e) {
    console.error(`cleanup of ${p.name}: ${e.message}`);
  }
}
rmSync(work, { recursive: true, force: true });
