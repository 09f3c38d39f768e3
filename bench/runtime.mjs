#!/usr/bin/env node
// Container start cost: kiln's bundled runtime beside runc, on the same busybox bundle.
//   node bench/runtime.mjs [--runs N] [--parallel N]      (root; run `npm run build` first)
// Prints medians (ms) of:
//   executor kiln / runc   the whole Executor.run of `true`: bundle + cgroup + runtime + cleanup
//   raw kiln-runtime / runc run   just `<runtime> run --bundle B ID` on a prepared bundle
//   unshare + chroot        the floor: namespaces + chroot, no mounts/cgroups/caps
// and the wall time to run N containers at once through each executor.
import { spawn, execFileSync } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Cgroup, createExecutor, generateSpec, kilnRuntimePath, runcPath } = await import(path.join(root, 'dist', 'executor', 'index.js'));

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('--runs', 40);
const PARALLEL = arg('--parallel', 50);

if (process.getuid() !== 0) {
  console.error('bench/runtime.mjs needs root (namespaces, mounts, cgroups)');
  process.exit(2);
}
for (const [what, p] of [['busybox', '/bin/busybox'], ['kiln-runtime', kilnRuntimePath()], ['runc', runcPath()]]) {
  if (!existsSync(p)) {
    console.error(`missing ${what} at ${p}`);
    process.exit(2);
  }
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-bench-runtime-'));
const rootfs = path.join(work, 'rootfs');
for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
for (const a of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n')) {
  if (a && a !== 'busybox') await fs.symlink('busybox', path.join(rootfs, 'bin', a));
}

const spec = { args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0 }, hostname: 'bench' };
const rootMounts = [{ type: 'bind', source: rootfs, options: ['rbind'] }];

function exec(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

// CPU time of this process plus its reaped children (ms): a load-independent companion to wall time
function cpuMs() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const tick = 1000 / 100; // USER_HZ
  const u = process.cpuUsage();
  return (Number(f[13]) + Number(f[14])) * tick + (u.user + u.system) / 1000;
}

async function timeIt(fn, runs = RUNS) {
  for (let i = 0; i < 3; i++) await fn(-1 - i); // warm-up
  const times = [];
  const c0 = cpuMs();
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  const cpu = (cpuMs() - c0) / runs;
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], p90: times[Math.floor(times.length * 0.9)], cpu };
}

// a prepared bundle for the raw runtime runs (the same config the executor writes)
const bundle = path.join(work, 'bundle');
await fs.mkdir(bundle);
await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(generateSpec({ spec, rootPath: rootfs, cgroupsPath: 'kiln-bench/raw' })));

const results = {};
const kiln = createExecutor('kiln', { stateDir: path.join(work, 'state') });
const runc = createExecutor('runc', { stateDir: path.join(work, 'state') });
results['executor kiln'] = await timeIt(async () => {
  const r = await kiln.run(spec, rootMounts, [], {});
  if (r.exitCode !== 0) throw new Error(`kiln exit ${r.exitCode}`);
});
results['executor runc'] = await timeIt(async () => {
  const r = await runc.run(spec, rootMounts, [], {});
  if (r.exitCode !== 0) throw new Error(`runc exit ${r.exitCode}`);
});
results['raw kiln-runtime run'] = await timeIt((i) => exec(kilnRuntimePath(), ['run', '--bundle', bundle, `raw-kiln-${i + 10}`]));
results['raw runc run'] = await timeIt((i) => exec(runcPath(), ['--root', path.join(work, 'runc-root'), 'run', '--bundle', bundle, `raw-runc-${i + 10}`]));
results['unshare + chroot (floor)'] = await timeIt(() => exec('/usr/bin/unshare', ['--mount', '--pid', '--fork', '--uts', '--ipc', '--net', '/usr/sbin/chroot', rootfs, '/bin/true']));

async function burst(ex) {
  const t = performance.now();
  const rs = await Promise.all(Array.from({ length: PARALLEL }, () => ex.run(spec, rootMounts, [], {})));
  const bad = rs.filter((r) => r.exitCode !== 0).length;
  if (bad) throw new Error(`${bad} of ${PARALLEL} containers failed`);
  return performance.now() - t;
}
const burstKiln = await burst(kiln);
const burstRunc = await burst(runc);

// the whole CLI: `kiln run --rm IMAGE true` on an image imported from the same rootfs (fewer runs: node start-up dominates)
const cli = {};
let cliSkip = '';
try {
  const kilnBin = path.join(root, 'bin', 'kiln.js');
  const env = { ...process.env, KILN_ROOT: path.join(work, 'store') };
  execFileSync('tar', ['-C', rootfs, '-cf', path.join(work, 'rootfs.tar'), '.']);
  execFileSync(process.execPath, [kilnBin, 'import', path.join(work, 'rootfs.tar'), 'kiln-bench-busybox:latest'], { env, stdio: 'ignore' });
  const cliRun = (runtime) => new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [kilnBin, 'run', '--rm', '--runtime', runtime, 'kiln-bench-busybox:latest', 'true'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kiln run --runtime ${runtime} exited ${code}`))));
  });
  const cliRuns = Math.max(5, Math.round(RUNS / 4));
  for (const rt of ['kiln', 'runc']) {
    try {
      cli[`kiln run --rm (${rt})`] = await timeIt(() => cliRun(rt), cliRuns);
    } catch (err) {
      cliSkip += `kiln run --rm --runtime ${rt} failed: ${err.message}\n`;
    }
  }
  cli['node -e 0 (node start-up)'] = await timeIt(() => exec(process.execPath, ['-e', '0']), cliRuns);
} catch (err) {
  cliSkip = `skipped kiln run --rm: ${err.message.split('\n')[0]}`;
}

const pad = (s, n) => String(s).padEnd(n);
console.log(`container start, \`true\` in a busybox rootfs, ${RUNS} runs each (${os.cpus().length} CPUs, kernel ${os.release()})`);
console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(pad('', 28) + pad('median ms', 12) + pad('p90 ms', 10) + 'cpu ms/run (incl. node for executor rows)');
for (const [k, v] of Object.entries(results)) console.log(pad(k, 28) + pad(v.median.toFixed(1), 12) + pad(v.p90.toFixed(1), 10) + v.cpu.toFixed(1));
const ratio = (a, b) => (results[a].median / results[b].median).toFixed(2);
console.log(`ratio executor kiln / executor runc: ${ratio('executor kiln', 'executor runc')}x (aim <= 1.5x)`);
console.log(`ratio raw kiln-runtime / raw runc:   ${ratio('raw kiln-runtime run', 'raw runc run')}x (cpu ${(results['raw kiln-runtime run'].cpu / results['raw runc run'].cpu).toFixed(2)}x)`);
console.log(`ratio raw kiln-runtime / floor:      ${ratio('raw kiln-runtime run', 'unshare + chroot (floor)')}x`);
if (cliSkip) console.log(cliSkip.trim());
for (const [k, v] of Object.entries(cli)) console.log(pad(k, 28) + pad(v.median.toFixed(1), 12) + pad(v.p90.toFixed(1), 10) + v.cpu.toFixed(1));
if (cli['kiln run --rm (kiln)'] && cli['kiln run --rm (runc)']) console.log(`ratio kiln run --rm kiln / runc:   ${(cli['kiln run --rm (kiln)'].median / cli['kiln run --rm (runc)'].median).toFixed(2)}x`);
console.log(`${PARALLEL} containers at once: kiln ${burstKiln.toFixed(0)} ms, runc ${burstRunc.toFixed(0)} ms (ratio ${(burstKiln / burstRunc).toFixed(2)}x)`);
await Cgroup.open('kiln-bench').remove().catch(() => undefined);
await fs.rm(work, { recursive: true, force: true });
