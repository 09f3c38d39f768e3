/**
 * The same container checks against kiln's runtime and runc, on the same bundle (a busybox rootfs).
 * Needs root, namespaces, cgroups, /bin/busybox (busybox-static), build/Release/kiln-runtime and runc;
 * each missing piece skips with a printed reason.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fs, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { DEFAULT_CAPABILITIES, MASKED_PATHS } from './defaults.js';
import { cgroupDirs } from './cgroups.js';
import { createExecutor, kilnRuntimePath, runcPath } from './oci-executor.js';
import type { ExecMount, Executor, ProcessIO, ProcessSpec, RunResult, RuntimeName, StartedInfo } from './types.js';

function probe(runtime: RuntimeName): string | null {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (namespaces, mounts, cgroups)';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (Debian busybox-static)';
  if (!existsSync('/sys/fs/cgroup')) return 'needs a cgroup filesystem at /sys/fs/cgroup';
  if (runtime === 'kiln' && !existsSync(kilnRuntimePath())) return `kiln-runtime not built at ${kilnRuntimePath()} (npm run build)`;
  if (runtime === 'runc' && !existsSync(runcPath())) return 'runc is not installed (Debian runc)';
  return null;
}

// capability numbers, from <linux/capability.h>, to compute the expected /proc/self/status masks
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};
const capMask = (names: readonly string[]) => names.reduce((m, n) => m | (1n << BigInt(CAP_NUMBERS[n]!)), 0n).toString(16).padStart(16, '0');

let rootfs = '';
let hostDir = '';
const SECRET = `HOSTSECRET-${process.pid}`;

async function makeRootfs(): Promise<void> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-exec-test-'));
  rootfs = path.join(base, 'rootfs');
  hostDir = path.join(base, 'host');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'data']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const { execFileSync } = await import('node:child_process');
  for (const applet of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (applet && applet !== 'busybox') await fs.symlink('busybox', path.join(rootfs, 'bin', applet)).catch(() => undefined);
  }
  await fs.writeFile(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await fs.chmod(path.join(rootfs, 'tmp'), 0o1777);
  // a host sentinel outside the rootfs, and symlinks in the rootfs that point at it
  await fs.mkdir(hostDir);
  await fs.writeFile(path.join(hostDir, 'secret'), SECRET);
  await fs.symlink(hostDir, path.join(rootfs, 'abs-escape'));
  await fs.symlink('../../../../../../../../..' + hostDir, path.join(rootfs, 'rel-escape'));
  // CVE-2019-5736 shape: an entrypoint whose interpreter is /proc/self/exe
  await fs.writeFile(path.join(rootfs, 'evil'), '#!/proc/self/exe\n', { mode: 0o755 });
}

interface Ran {
  stdout: string;
  stderr: string;
  result: RunResult;
}

const base = (args: string[], extra: Partial<ProcessSpec> = {}): ProcessSpec => ({ args, env: [], cwd: '/', user: { uid: 0, gid: 0 }, hostname: 'kilnbox', ...extra });

async function run(ex: Executor, spec: ProcessSpec, mounts: ExecMount[] = [], opts: { signal?: AbortSignal; onStarted?: (i: StartedInfo) => void; onStdout?: (s: string) => void } = {}): Promise<Ran> {
  const out = new PassThrough(), err = new PassThrough();
  let stdout = '', stderr = '';
  out.on('data', (d: Buffer) => {
    stdout += d;
    opts.onStdout?.(stdout);
  });
  err.on('data', (d: Buffer) => (stderr += d));
  const io: ProcessIO = { stdout: out, stderr: err };
  const result = await ex.run(spec, [{ type: 'bind', source: rootfs, options: ['rbind'] }], mounts, io, opts.signal, opts.onStarted ? { onStarted: opts.onStarted } : {});
  return { stdout, stderr, result };
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const mountPoints = (mountinfo: string) => mountinfo.split('\n').filter(Boolean).map((l) => l.split(' ')[4]!);

const runtimes: RuntimeName[] = ['kiln', 'runc'];
const reasons = Object.fromEntries(runtimes.map((r) => [r, probe(r)])) as Record<RuntimeName, string | null>;
for (const r of runtimes) if (reasons[r]) console.warn(`skipping executor tests for ${r}: ${reasons[r]}`);
const mountTables: Partial<Record<RuntimeName, string[]>> = {};

beforeAll(async () => {
  if (!reasons.kiln || !reasons.runc) await makeRootfs();
});
afterAll(async () => {
  if (rootfs) await fs.rm(path.dirname(rootfs), { recursive: true, force: true });
});

describe.each(runtimes)('executor with %s runtime', (runtime) => {
  const skip = !!reasons[runtime];
  const ex = skip ? (undefined as unknown as Executor) : createExecutor(runtime);

  it.skipIf(skip)('runs the process as PID 1 with the hostname, and propagates the exit code', async () => {
    const r = await run(ex, base(['sh', '-c', 'echo $$; hostname; exit 42']));
    expect(r.stdout.split('\n').slice(0, 2)).toEqual(['1', 'kilnbox']);
    expect(r.result).toMatchObject({ exitCode: 42, oomKilled: false });
  });

  it.skipIf(skip)('puts the process in its own cgroup in every hierarchy kiln uses', async () => {
    const r = await run(ex, base(['cat', '/proc/self/cgroup']));
    const lines = r.stdout.split('\n').filter(Boolean);
    const used = cgroupDirs('').filter((d) => d.used).map((d) => d.controller);
    expect(used.length).toBeGreaterThan(0);
    for (const c of used) {
      const line = lines.find((l) => (c === '' ? l.startsWith('0::') : l.split(':')[1]!.split(',').includes(c)));
      expect(line, c).toMatch(/\/kiln\/[0-9a-f]+\/ctr$/);
    }
  });

  it.skipIf(skip)('removes its bundle (config, log, pid file, hosts files) after the run', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'kiln-exec-state-'));
    try {
      const r = await run(createExecutor(runtime, { stateDir }), base(['cat', '/etc/hostname']));
      expect(r.stdout).toBe('kilnbox\n');
      expect(readdirSync(stateDir).filter((n) => n !== 'runc')).toEqual([]); // runc keeps its root dir
    } finally {
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });

  it.skipIf(skip)('mounts the Docker default filesystems, /sys read-only, and no host paths', async () => {
    const r = await run(ex, base(['cat', '/proc/self/mountinfo'], { readonlyRootfs: true }));
    const lines = r.stdout.split('\n').filter(Boolean);
    const points = mountPoints(r.stdout);
    for (const p of ['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']) expect(points).toContain(p);
    const opts = (p: string) => lines.find((l) => l.split(' ')[4] === p)!.split(' ')[5]!;
    expect(opts('/sys')).toMatch(/^ro,/);
    expect(opts('/')).toMatch(/^ro,/);
    expect(opts('/proc/sys')).toMatch(/^ro,/);
    for (const p of points) expect(p.startsWith(path.dirname(rootfs))).toBe(false);
    mountTables[runtime] = [...new Set(points)].sort();
  });

  it.skipIf(skip)('sets uid, gid and supplementary groups', async () => {
    const r = await run(ex, base(['sh', '-c', 'grep -E "^(Uid|Gid|Groups):" /proc/self/status'], { user: { uid: 1000, gid: 1001, additionalGids: [10, 20] } }));
    expect(r.stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(r.stdout).toMatch(/^Gid:\s+1001\s+1001\s+1001\s+1001$/m);
    expect(r.stdout).toMatch(/^Groups:\s+10 20\s*$/m);
  });

  it.skipIf(skip)('gives root the 14 default capabilities with empty inheritable and ambient sets', async () => {
    const r = await run(ex, base(['grep', '^Cap', '/proc/self/status']));
    const caps = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
    const want = capMask(DEFAULT_CAPABILITIES);
    expect(caps).toEqual({ CapInh: '0'.repeat(16), CapPrm: want, CapEff: want, CapBnd: want, CapAmb: '0'.repeat(16) });
    const u = await run(ex, base(['grep', '^Cap', '/proc/self/status'], { user: { uid: 1000, gid: 1000 } }));
    expect(u.stdout).toMatch(/^CapEff:\s+0{16}$/m);
    expect(u.stdout).toMatch(new RegExp(`^CapBnd:\\s+${want}$`, 'm'));
  });

  it.skipIf(skip)('sets no_new_privs only when asked, and the rlimits', async () => {
    const off = await run(ex, base(['sh', '-c', 'grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn']));
    expect(off.stdout.split('\n').slice(0, 3)).toEqual(['NoNewPrivs:\t0', '1024', '1024']);
    const on = await run(ex, base(['sh', '-c', 'grep NoNewPrivs /proc/self/status; ulimit -n'], { noNewPrivileges: true, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 64, hard: 128 }] }));
    expect(on.stdout.split('\n').slice(0, 2)).toEqual(['NoNewPrivs:\t1', '64']);
  });

  it.skipIf(skip)('masks /proc and /sys paths and keeps /proc/sys read-only', async () => {
    // a masked /proc file this kernel has (kcore is absent on some)
    const file = MASKED_PATHS.find((p) => p.startsWith('/proc/') && existsSync(p) && statSync(p).isFile())!;
    const r = await run(ex, base(['sh', '-c', `wc -c < ${file}; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname && echo WROTE; echo x > ${file}; wc -c < ${file}`]));
    const [masked, firmware, afterWrite] = r.stdout.trim().split('\n');
    expect(masked!.trim()).toBe('0');
    expect(afterWrite!.trim()).toBe('0');
    expect(firmware!.trim()).toBe('0');
    expect(r.stdout).not.toContain('WROTE');
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it.skipIf(skip)('hands the process only fds 0-2', async () => {
    const r = await run(ex, base(['sh', '-c', 'ls /proc/$$/fd; true']));
    expect(r.stdout.trim().split(/\s+/).sort()).toEqual(['0', '1', '2']);
  });

  it.skipIf(skip)('only the default devices exist in /dev', async () => {
    const r = await run(ex, base(['sh', '-c', 'ls /dev; head -c 3 /dev/zero | wc -c; echo > /dev/null && echo nullok']));
    const names = r.stdout.split(/\s+/);
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue']) expect(names).toContain(d);
    for (const d of ['sda', 'vda', 'mem', 'kmsg']) expect(names).not.toContain(d);
    expect(r.stdout).toContain('nullok');
  });

  it.skipIf(skip)('enforces the memory limit and reports the OOM kill', async () => {
    const r = await run(ex, base(['sh', '-c', 'tail /dev/zero; echo status=$?; sleep 0.2'], { resources: { memory: 32 * 1024 * 1024, memorySwap: 32 * 1024 * 1024 } }));
    expect(r.result.oomKilled).toBe(true);
    expect(r.stdout).toContain('status=137');
    const ok = await run(ex, base(['true'], { resources: { memory: 32 * 1024 * 1024 } }));
    expect(ok.result).toEqual({ exitCode: 0, oomKilled: false });
  });

  it.skipIf(skip)('enforces the pids limit', async () => {
    const spawn20 = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 1 & done; wait';
    const limited = await run(ex, base(['sh', '-c', spawn20], { resources: { pids: 8 } }));
    expect(limited.stderr).toMatch(/fork|Resource temporarily unavailable/i);
    const free = await run(ex, base(['sh', '-c', spawn20]));
    expect(free.stderr).toBe('');
  });

  it.skipIf(skip)('forwards SIGTERM to the container and reports a SIGKILL on cancel as 137', async () => {
    let runtimePid = 0, ready = false, sent = false;
    const maybeTerm = () => {
      if (ready && runtimePid && !sent) {
        sent = true;
        process.kill(runtimePid, 'SIGTERM'); // to the runtime, which forwards it
      }
    };
    const trapped = await run(ex, base(['sh', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.05; done']), [], {
      onStarted: (i) => {
        runtimePid = i.runtimePid;
        maybeTerm();
      },
      onStdout: (s) => {
        ready = s.includes('ready');
        maybeTerm();
      },
    });
    expect(trapped.stdout).toContain('got-term');
    expect(trapped.result.exitCode).toBe(3);
    const ac = new AbortController();
    const killed = await run(ex, base(['sh', '-c', 'echo ready; sleep 30']), [], { signal: ac.signal, onStdout: (s) => s.includes('ready') && ac.abort() });
    expect(killed.result).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it.skipIf(skip)('keeps a /proc/self/fd/N working directory from reaching the host (CVE-2024-21626)', async () => {
    const attempt = async (n: number) => {
      let out = '';
      try {
        const r = await run(ex, base(['sh', '-c', 'cat ../../../../../../../../..' + hostDir + '/secret; pwd'], { cwd: `/proc/self/fd/${n}` }));
        out = r.stdout + r.stderr;
      } catch (err) {
        expect(hasCode(err, 'RUNTIME_START_FAILED')).toBe(true);
      }
      expect(out).not.toContain(SECRET);
    };
    for (let n = 3; n <= 64; n += 4) await Promise.all([n, n + 1, n + 2, n + 3].filter((k) => k <= 64).map(attempt));
  });

  it.skipIf(skip)('never lets the container overwrite the runtime binary (CVE-2019-5736)', async () => {
    const bin = runtime === 'kiln' ? kilnRuntimePath() : runcPath();
    const before = sha(bin);
    await run(ex, base(['/evil'])).catch(() => undefined);
    await run(ex, base(['sh', '-c', 'for p in /proc/[0-9]*; do echo pwned > $p/exe; done 2>/dev/null; true'], { init: true })).catch(() => undefined);
    expect(sha(bin)).toBe(before);
  });

  it.skipIf(skip)('resolves mount targets behind symlinks inside the rootfs', async () => {
    const before = readdirSync(hostDir).sort();
    const mounts: ExecMount[] = [
      { destination: '/abs-escape/t1', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/rel-escape/t2', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
    ];
    const r = await run(ex, base(['sh', '-c', 'cat /proc/self/mountinfo; cat /abs-escape/secret; echo end']), mounts);
    expect(r.stdout).not.toContain(SECRET);
    const points = mountPoints(r.stdout);
    expect(points).toContain(path.join(hostDir, 't1')); // the link target, taken inside the rootfs
    expect(points).toContain(path.join(hostDir, 't2'));
    expect(readdirSync(hostDir).sort()).toEqual(before);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(hostDir);
    await fs.rm(path.join(rootfs, path.dirname(hostDir)), { recursive: true, force: true });
  });

  it.skipIf(skip)('binds volumes read-write or read-only, and their symlinks resolve inside the container', async () => {
    const vol = mkdtempSync(path.join(os.tmpdir(), 'kiln-exec-vol-'));
    try {
      await fs.writeFile(path.join(vol, 'hello'), 'from-host');
      await fs.symlink(hostDir, path.join(vol, 'abs-link'));
      await fs.symlink('../../../../../../..' + hostDir, path.join(vol, 'rel-link'));
      const mounts: ExecMount[] = [
        { destination: '/vol', type: 'bind', source: vol, options: ['rbind'] },
        { destination: '/ro', type: 'bind', source: vol, options: ['rbind', 'ro'] },
        // a mount target inside the volume, behind its symlink: lands inside the rootfs, not on the host
        { destination: '/vol/abs-link/inner', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      ];
      const r = await run(ex, base(['sh', '-c', 'cat /vol/hello; echo; echo written > /vol/new; echo x > /ro/x || echo ro-refused; cat /vol/abs-link/secret /vol/rel-link/secret /ro/abs-link/secret; echo done'], { resources: { cpus: 0.5 } }), mounts);
      expect(r.stdout).toContain('from-host');
      expect(r.stdout).toContain('ro-refused');
      expect(r.stdout).not.toContain(SECRET);
      expect(await fs.readFile(path.join(vol, 'new'), 'utf8')).toBe('written\n');
      expect(existsSync(path.join(vol, 'x'))).toBe(false);
      expect(readdirSync(hostDir)).toEqual(['secret']);
    } finally {
      await fs.rm(vol, { recursive: true, force: true });
      await fs.rm(path.join(rootfs, path.dirname(hostDir)), { recursive: true, force: true });
    }
  });

  it.skipIf(skip)('applies the cpu quota and pids limit to the container cgroup', async () => {
    let seen = '';
    const id = `cpu-test-${runtime}-${process.pid}`;
    await run(ex, base(['sh', '-c', 'echo ready; sleep 1'], { id, resources: { cpus: 0.5, pids: 33 } }), [], {
      onStarted: () => {
        const dirs = cgroupDirs(`kiln/${id}/ctr`);
        const v2 = dirs.find((d) => d.controller === '' && d.used);
        const cpu = v2 ? path.join(v2.dir, 'cpu.max') : path.join(dirs.find((d) => d.controller === 'cpu')!.dir, 'cpu.cfs_quota_us');
        const pids = path.join((v2 ?? dirs.find((d) => d.controller === 'pids')!).dir, 'pids.max');
        seen = `${readFileSync(cpu, 'utf8').trim()} ${readFileSync(pids, 'utf8').trim()}`;
      },
    });
    expect(seen).toMatch(/^50000( 100000)? 33$/);
  });

  it.skipIf(skip)('reports a missing command as a start failure', async () => {
    const err = await run(ex, base(['/no/such/command'])).then(() => null, (e: unknown) => e);
    expect(hasCode(err, 'RUNTIME_START_FAILED')).toBe(true);
    expect(String((err as Error).message)).toMatch(/no such file|not found/i);
  });

  it.skipIf(skip)('refuses a rootfs whose /proc is a symlink', async () => {
    const evil = mkdtempSync(path.join(os.tmpdir(), 'kiln-exec-procsym-'));
    try {
      await fs.mkdir(path.join(evil, 'bin'));
      await fs.link(path.join(rootfs, 'bin', 'busybox'), path.join(evil, 'bin', 'busybox'));
      await fs.symlink('busybox', path.join(evil, 'bin', 'true'));
      await fs.mkdir(path.join(evil, 'fakeproc'));
      await fs.symlink('/fakeproc', path.join(evil, 'proc'));
      const err = await ex.run(base(['true']), [{ type: 'bind', source: evil, options: ['rbind'] }], [], {}).then(() => null, (e: unknown) => e);
      expect(hasCode(err, 'RUNTIME_START_FAILED')).toBe(true);
      expect(String((err as Error).message)).toMatch(/ordinary directory|symbolic link|symlink/i);
    } finally {
      await fs.rm(evil, { recursive: true, force: true });
    }
  });

  it.skipIf(skip)('exec joins the running container (namespaces and cgroup)', async () => {
    const ac = new AbortController();
    let started: StartedInfo | undefined;
    const main = run(ex, base(['sh', '-c', 'echo ready; sleep 30'], { hostname: 'exectarget', id: `exec-test-${runtime}-${process.pid}` }), [], {
      signal: ac.signal,
      onStarted: (i) => (started = i),
    });
    while (!started) await new Promise((r) => setTimeout(r, 10));
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d));
    const r = await ex.exec({ id: started.id, pid: started.pid }, base(['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/self/cgroup; ls /proc/$$/fd; true'], { cwd: '/tmp' }), { stdout: out });
    expect(r.exitCode).toBe(0);
    const lines = text.split('\n');
    expect(lines[0]).toBe('exectarget');
    expect(lines[1]).toContain('sleep 30');
    expect(text).toContain(`kiln/${started.id}/ctr`);
    expect(text.trim().split('\n').slice(-3)).toEqual(['0', '1', '2']);
    // an exec whose cwd is a leaked fd stays inside too
    for (const n of [3, 4, 5, 6, 7, 8]) {
      const o2 = new PassThrough();
      let t2 = '';
      o2.on('data', (d: Buffer) => (t2 += d));
      await ex.exec({ id: started.id, pid: started.pid }, base(['sh', '-c', 'cat ../../../../../../../..' + hostDir + '/secret'], { cwd: `/proc/self/fd/${n}` }), { stdout: o2, stderr: o2 }).catch(() => undefined);
      expect(t2).not.toContain(SECRET);
    }
    ac.abort();
    expect((await main).result.exitCode).toBe(137);
  });
});

describe.skipIf(!!reasons.kiln)('kiln runtime only', () => {
  it('--init mode reaps zombies as PID 1 and propagates signals as 128+N', async () => {
    const ex = createExecutor('kiln');
    const r = await run(ex, base(['sh', '-c', 'echo main=$$; sh -c "sleep 0.05 & exit 0"; sleep 0.3; ps -o pid,stat,comm; kill -9 $$'], { init: true }));
    expect(r.stdout).toMatch(/main=(\d+)/);
    expect(r.stdout).not.toContain('main=1\n');
    expect(r.stdout).not.toMatch(/\sZ\s/);
    expect(r.result).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });
});

describe.skipIf(!!reasons.kiln)('kiln-runtime set-up failures', () => {
  it('a mount that fails while the container is set up (as its cgroups are joined) ends with that error and no cgroup left', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-badmount-'));
    const id = `badmount-${process.pid}`;
    const config = {
      process: { args: ['true'], cwd: '/' },
      root: { path: rootfs },
      mounts: [{ destination: '/x', type: 'bind', source: path.join(dir, 'missing'), options: ['rbind'] }],
      linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], cgroupsPath: `kiln/${id}/ctr` },
    };
    try {
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
      const r = spawnSync(kilnRuntimePath(), ['run', '--bundle', dir, id], { encoding: 'utf8', timeout: 10000 });
      expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 1 });
      expect(r.stderr).toMatch(/^kiln-runtime: bind .*missing: No such file or directory/);
      for (const d of cgroupDirs(`kiln/${id}/ctr`)) expect(existsSync(d.dir), d.dir).toBe(false);
    } finally {
      for (const d of cgroupDirs(`kiln/${id}`)) await fs.rmdir(d.dir).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!!reasons.kiln)('kiln-runtime config.json parsing', () => {
  it('rejects malformed or hostile config.json with an error, never a crash', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-badcfg-'));
    const good = { process: { args: ['true'], cwd: '/' }, root: { path: rootfs }, linux: { namespaces: [{ type: 'mount' }] } };
    const cases: [string, string | Buffer][] = [
      ['truncated', JSON.stringify(good).slice(0, 40)],
      ['deep nesting', '['.repeat(100000)],
      ['bad escape', '{"process":{"args":["\\q"]}}'],
      ['NUL escape', '{"process":{"args":["a\\u0000b"],"cwd":"/"}}'],
      ['trailing garbage', JSON.stringify(good) + 'xx'],
      ['huge number', '{"process":{"args":["true"],"cwd":"/","user":{"uid":1e400}}}'],
      ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
      ['unknown capability', JSON.stringify({ ...good, process: { ...good.process, capabilities: { bounding: ['CAP_NOPE'] } } })],
      ['relative cwd', JSON.stringify({ ...good, process: { ...good.process, cwd: 'x' } })],
      ['uid overflow', JSON.stringify({ ...good, process: { ...good.process, user: { uid: 4294967296, gid: 0 } } })],
      ['duplicate namespace', JSON.stringify({ ...good, linux: { namespaces: [{ type: 'mount' }, { type: 'mount' }] } })],
    ];
    try {
      for (const [name, text] of cases) {
        await fs.writeFile(path.join(dir, 'config.json'), text);
        const r = spawnSync(kilnRuntimePath(), ['run', '--bundle', dir, `bad-${process.pid}`], { encoding: 'utf8', timeout: 10000 });
        expect({ name, signal: r.signal, status: r.status }).toEqual({ name, signal: null, status: 1 });
        expect(r.stderr).toMatch(/^kiln-runtime: /);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!!reasons.kiln || !!reasons.runc)('kiln and runc agree', () => {
  it('on the container mount table', () => {
    if (!mountTables.kiln || !mountTables.runc) return; // the per-runtime mount tests failed and say why
    expect(mountTables.kiln).toEqual(mountTables.runc);
  });
});
