// The builders bench/build.mjs compares: kiln (its CLI), BuildKit (docker 20.10's, through
// dockerd) and buildah. Each peer offers
//   reason()            null when usable, else why it is skipped (printed by the bench)
//   setup(baseTar)      once: make busybox:latest from the same rootfs tarball
//   reset()             cold state: no build cache, no built images, busybox:latest present
//   build(ctx, opts)    one timed build -> { ms, cpuMs } (throws with the tool's last output)
//   cleanup()           remove what the bench stored
// cpuMs is user+system CPU of the work (the CLI's reaped children, plus dockerd for BuildKit):
// a companion to wall time that a loaded machine disturbs less.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const TICK_MS = 10; // USER_HZ = 100

/** utime+stime (+ cutime+cstime of reaped children) of a process, in ms. */
function procCpuMs(pid = 'self', withChildren = true) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // after "pid (comm) ": state=0 ... utime=11 stime=12 cutime=13 cstime=14
    const own = Number(f[11]) + Number(f[12]);
    const kids = withChildren ? Number(f[13]) + Number(f[14]) : 0;
    return (own + kids) * TICK_MS;
  } catch {
    return NaN;
  }
}
const childrenCpuMs = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
};

function run(cmd, args, { env = {}, input, timeoutMs = 30 * 60_000 } = {}) {
  const r = spawnSync(cmd, args, {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    input,
    // an env value of undefined removes the variable
    env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)),
    maxBuffer: 512 << 20,
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    const err = new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${out}`);
    err.output = out;
    throw err;
  }
  return String(r.stdout);
}

/** Runs one build and measures wall time and CPU (this process's reaped children + `extraCpu`). */
function timedRun(cmd, args, env, extraCpu = () => 0) {
  const c0 = childrenCpuMs();
  const x0 = extraCpu();
  const t0 = process.hrtime.bigint();
  run(cmd, args, { env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, cpuMs: childrenCpuMs() - c0 + (extraCpu() - x0) };
}

/**
 * NODE_EXTRA_CA_CERTS makes Node parse that bundle at every start, before any JavaScript runs
 * (~65 ms per command on the machine these figures come from, where the sandbox sets it for all
 * processes). No scenario here talks TLS, so kiln runs without it unless --keep-node-env is given:
 * the figures are what a machine without it sees. bench/build.mjs prints which applies.
 */
export const KILN_ENV = process.argv.includes('--keep-node-env') ? {} : { NODE_EXTRA_CA_CERTS: undefined };

export function kilnPeer({ kilnBin, work }) {
  const root = path.join(work, 'kiln-root');
  let baseTar;
  const kiln = (args, opts) => run(process.execPath, [kilnBin, '--root', root, ...args], opts);
  return {
    name: 'kiln',
    reason: () => (existsSync(kilnBin) ? null : `${kilnBin} not found (npm run build)`),
    setup(tar) {
      baseTar = tar;
    },
    reset() {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root, { recursive: true });
      kiln(['import', baseTar, 'busybox:latest']);
    },
    build(ctx, { tag, jobs }) {
      const args = [kilnBin, '--root', root, 'build', '--progress', 'quiet', '-t', tag, ...(jobs ? ['--jobs', String(jobs)] : []), ctx];
      return timedRun(process.execPath, args, KILN_ENV);
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export function buildkitPeer({ dockerBin = '/usr/bin/docker', dockerdPid }) {
  const env = { DOCKER_BUILDKIT: '1' };
  const docker = (args, opts = {}) => run(dockerBin, args, { env, ...opts });
  const tags = new Set();
  let pid = dockerdPid;
  const daemonCpu = () => (pid ? procCpuMs(pid) : 0);
  return {
    name: 'buildkit',
    reason() {
      if (!existsSync(dockerBin)) return `${dockerBin} not found (apt-get install docker.io)`;
      try {
        const v = docker(['version', '--format', '{{.Server.Version}}']).trim();
        this.version = `docker ${v}`;
      } catch (e) {
        return `no docker daemon answers (${e.message.split('\n').slice(-1)[0]}); start one: dockerd --iptables=false --bridge=none &`;
      }
      if (!pid) {
        for (const f of ['/var/run/docker.pid', '/run/docker.pid']) if (existsSync(f)) pid = readFileSync(f, 'utf8').trim();
      }
      return null;
    },
    setup(tar) {
      docker(['import', tar, 'busybox:latest']);
    },
    reset() {
      for (const t of tags) spawnSync(dockerBin, ['image', 'rm', '-f', t], { stdio: 'ignore' });
      docker(['builder', 'prune', '-af']);
      spawnSync(dockerBin, ['image', 'prune', '-f'], { stdio: 'ignore' });
    },
    build(ctx, { tag }) {
      tags.add(tag);
      // BuildKit runs every ready vertex at once (no --jobs knob in docker build).
      return timedRun(dockerBin, ['build', '--network=host', '-q', '-t', tag, ctx], env, daemonCpu);
    },
    cleanup() {
      this.reset();
    },
    get cpuNote() {
      return pid ? 'dockerd + CLI' : 'CLI only (dockerd pid unknown: --dockerd-pid)';
    },
  };
}

export function buildahPeer({ work }) {
  const store = path.join(work, 'buildah');
  const g = ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'run'), '--storage-driver', 'overlay'];
  const buildah = (args, opts) => run('buildah', [...g, ...args], opts);
  let baseTar;
  const importBase = () => {
    const c = buildah(['from', '--name', 'kbench-base', 'scratch']).trim();
    buildah(['add', c, baseTar, '/']);
    buildah(['commit', '-q', '--rm', c, 'busybox:latest']);
  };
  return {
    name: 'buildah',
    reason() {
      const r = spawnSync('buildah', ['--version'], { encoding: 'utf8' });
      if (r.error || r.status !== 0) return 'buildah not installed (apt-get install buildah)';
      this.version = r.stdout.trim();
      return null;
    },
    setup(tar) {
      baseTar = tar;
    },
    reset() {
      spawnSync('buildah', [...g, 'rm', '--all'], { stdio: 'ignore' });
      spawnSync('buildah', [...g, 'rmi', '--all', '--force'], { stdio: 'ignore' });
      importBase();
    },
    build(ctx, { tag, jobs }) {
      const args = [...g, 'bud', '--layers', '-q', '--network', 'host', '-t', tag, ...(jobs ? ['--jobs', String(jobs)] : []), ctx];
      return timedRun('buildah', args, {});
    },
    cleanup() {
      spawnSync('buildah', [...g, 'rm', '--all'], { stdio: 'ignore' });
      spawnSync('buildah', [...g, 'rmi', '--all', '--force'], { stdio: 'ignore' });
      // overlay mounts under the store are released by rmi; the directory may still hold a mount
      spawnSync('umount', ['-R', path.join(store, 'root', 'overlay')], { stdio: 'ignore' });
      rmSync(store, { recursive: true, force: true });
    },
  };
}
