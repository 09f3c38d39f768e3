// Container start benchmark (issue 4): the whole `kiln run --rm busybox true` command, beside
// `runc run` on an equivalent bundle and `unshare` + `chroot` as the floor; then 50 containers
// of one image started at once. Needs root, busybox-static and runc; run `npm run build` first.
//   node bench/container-run.mjs [--runs N] [--concurrent N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 20);
const CONCURRENT = arg('--concurrent', 50);
const kilnBin = path.join(repo, 'bin/kiln.js');

if (process.getuid() !== 0) throw new Error('needs root');
const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-run-'));
const bundle = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-bundle-'));
const rootfs = path.join(bundle, 'rootfs');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}
function timeConcurrent(n, make) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    let left = n;
    for (let i = 0; i < n; i++) {
      const [cmd, args] = make(i);
      const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => {
        if (code !== 0) reject(new Error(`${cmd} failed: ${err}`));
        if (--left === 0) resolve(Number(process.hrtime.bigint() - t) / 1e6);
      });
    }
  });
}

try {
  // the image, and an equivalent runc bundle from the same rootfs tarball
  const tar = execFileSync('bash', [path.join(repo, 'scripts/busybox-rootfs.sh'), '-'], { maxBuffer: 64 << 20 });
  execFileSync(process.execPath, [kilnBin, '--root', root, 'import', '-', 'busybox:latest'], { input: tar });
  execFileSync('mkdir', ['-p', rootfs]);
  execFileSync('tar', ['-C', rootfs, '-xf', '-'], { input: tar });
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(execFileSync('cat', [path.join(bundle, 'config.json')], { encoding: 'utf8' }));
  spec.process.terminal = false;
  spec.process.args = ['true'];
  spec.root.readonly = false;
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  // warm up page cache, snapshot unpack and the overlay probe
  time(process.execPath, [kilnBin, '--root', root, 'run', '--rm', 'busybox', 'true']);

  const rows = [];
  const measure = (label, fn) => {
    const xs = [];
    for (let i = 0; i < RUNS; i++) xs.push(fn(i));
    rows.push({ label, median: median(xs) });
  };
  measure('kiln run --rm busybox true', () => time(process.execPath, [kilnBin, '--root', root, 'run', '--rm', 'busybox', 'true']));
  measure('kiln run --rm --runtime runc busybox true', () => time(process.execPath, [kilnBin, '--root', root, 'run', '--rm', '--runtime', 'runc', 'busybox', 'true']));
  measure('runc run (bundle)', (i) => time('runc', ['run', '--bundle', bundle, `bench-${process.pid}-${i}`]));
  measure('unshare + chroot (floor)', () => time('unshare', ['-m', '-p', '-f', '-n', '-u', '-i', 'chroot', rootfs, '/bin/true']));
  measure('node -e 0 (Node start-up alone)', () => time(process.execPath, ['-e', '0']));
  const hasDocker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

  const kilnConc = await timeConcurrent(CONCURRENT, () => [process.execPath, [kilnBin, '--root', root, 'run', '--rm', 'busybox', 'true']]);
  const runcConc = await timeConcurrent(CONCURRENT, (i) => ['runc', ['run', '--bundle', bundle, `bench-c-${process.pid}-${i}`]]);

  const runc = rows.find((r) => r.label.startsWith('runc')).median;
  console.log(`container start, median of ${RUNS} runs (${os.cpus().length} cores, ${os.release()})`);
  for (const r of rows) console.log(`  ${r.label.padEnd(44)} ${r.median.toFixed(1).padStart(8)} ms   ${(r.median / runc).toFixed(2)}x runc`);
  console.log(`${CONCURRENT} containers at once (wall time)`);
  console.log(`  ${'kiln run --rm busybox true'.padEnd(44)} ${kilnConc.toFixed(0).padStart(8)} ms   ${(kilnConc / runcConc).toFixed(2)}x runc`);
  console.log(`  ${'runc run'.padEnd(44)} ${runcConc.toFixed(0).padStart(8)} ms`);
  if (!hasDocker) console.log('  docker run: no docker engine running here, not measured');
} finally {
  for (const c of spawnSync(process.execPath, [kilnBin, '--root', root, 'ps', '-aq'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    spawnSync(process.execPath, [kilnBin, '--root', root, 'rm', '-f', c]);
  }
  rmSync(root, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
}
