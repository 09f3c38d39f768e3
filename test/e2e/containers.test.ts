import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';
import { containerSkipReason, importBusybox, kilnBin, repoRoot } from '../helpers/busybox.js';

const reason = containerSkipReason();
if (reason) console.warn(`skipping container end-to-end tests: ${reason}`);

describe.skipIf(!!reason)('containers end to end (kiln runtime)', () => {
  let root = '';
  let scratch = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-ctr-'));
    scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-host-'));
    importBusybox(root);
  });
  afterAll(() => {
    for (const c of kilnBin(root, ['ps', '-aq']).stdout.split('\n').filter(Boolean)) kilnBin(root, ['rm', '-f', c]);
    rmSync(root, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs a command, passes its output and exit code, and honours -e -w -u and the image env', async () => {
    const r = await kiln(root, 'run', '--rm', '-e', 'GREETING=hi', '-w', '/tmp', '-u', 'nobody', 'busybox', 'sh', '-c', 'echo $GREETING; pwd; id -u; echo $PATH; exit 7');
    expect(r.stdout).toBe('hi\n/tmp\n65534\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    expect(r.code).toBe(7);
    expect((await kiln(root, 'ps', '-aq')).stdout).toBe('');
  });

  it('gives every container its own /etc/hosts, /etc/hostname and /etc/resolv.conf, which never show up as changes', async () => {
    const r = await kiln(root, 'run', '--name', 'etcfiles', '--hostname', 'box1', 'busybox', 'sh', '-c', 'cat /etc/hostname; grep -c box1 /etc/hosts; test -f /etc/resolv.conf && echo resolv');
    expect(r.stdout).toBe('box1\n1\nresolv\n');
    expect((await kiln(root, 'diff', 'etcfiles')).stdout).toBe('');
    await kiln(root, 'rm', 'etcfiles');
  });

  it('gives each container its own writable layer over the shared image', async () => {
    await kiln(root, 'run', '--name', 'iso-a', 'busybox', 'sh', '-c', 'echo a > /marker');
    const b = await kiln(root, 'run', '--rm', 'busybox', 'sh', '-c', 'cat /marker 2>&1 || echo absent');
    expect(b.stdout).toContain('absent');
    await kiln(root, 'rm', 'iso-a');
  });

  it('bind mounts host files (read-only when asked) and keeps named volumes after the container is gone', async () => {
    writeFileSync(path.join(scratch, 'in.txt'), 'from host\n');
    const r = await kiln(root, 'run', '--rm', '-v', `${scratch}:/host:ro`, '-v', 'keep:/data', 'busybox', 'sh', '-c',
      'cat /host/in.txt; echo persisted > /data/f; touch /host/x 2>/dev/null && echo writable || echo readonly');
    expect(r.stdout).toBe('from host\nreadonly\n');
    const again = await kiln(root, 'run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f');
    expect(again.stdout).toBe('persisted\n');
    expect((await kiln(root, 'volume', 'ls', '-q')).stdout).toContain('keep');
  });

  it('runs detached: ps, logs, exec, stop and wait stay true after kiln exits', async () => {
    const id = kilnBin(root, ['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'echo started; while true; do sleep 0.1; done']).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await kiln(root, 'ps')).stdout).toMatch(/ticker/);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('started'); i++) {
      logs = (await kiln(root, 'logs', 'ticker')).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toBe('started\n');
    const ex = await kiln(root, 'exec', 'ticker', 'sh', '-c', 'hostname; echo $$');
    expect(ex.stdout).toBe(`${id.slice(0, 12)}\n${ex.stdout.split('\n')[1]}\n`);
    expect(ex.code).toBe(0);
    const stop = await kiln(root, 'stop', '-t', '1', 'ticker');
    expect(stop.code).toBe(0);
    expect((await kiln(root, 'wait', 'ticker')).stdout).toBe('137\n');
    const [info] = JSON.parse((await kiln(root, 'inspect', 'ticker')).stdout);
    expect(info.State).toMatchObject({ Status: 'exited', ExitCode: 137, Running: false });
    expect((await kiln(root, 'rm', 'ticker')).code).toBe(0);
  });

  it('-it gives an interactive shell on a terminal, and its exit code', () => {
    const r = spawnSync('script', ['-qec', `${process.execPath} ${path.join(repoRoot, 'bin/kiln.js')} --root ${root} run -it --rm busybox sh`, '/dev/null'], {
      input: 'tty; echo "term=$TERM"\nexit 4\n',
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout).toMatch(/\/dev\/pts\/0/);
    expect(r.stdout).toContain('term=xterm');
    expect(r.status).toBe(4);
  });

  it('enforces -m and --pids-limit, and inspect reports the OOM kill', async () => {
    const oom = await kiln(root, 'run', '--name', 'oom', '-m', '16m', 'busybox', 'sh', '-c', 'x=$(head -c 100m /dev/zero | tr "\\0" a); echo survived');
    expect(oom.code).toBe(137);
    expect(oom.stdout).not.toContain('survived');
    const [info] = JSON.parse((await kiln(root, 'inspect', 'oom')).stdout);
    expect(info.State).toMatchObject({ OOMKilled: true, ExitCode: 137 });
    expect(info.HostConfig.Memory).toBe(16 * 1024 * 1024);
    await kiln(root, 'rm', 'oom');
    const pids = await kiln(root, 'run', '--rm', '--pids-limit', '5', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait');
    expect(pids.stderr).toContain("can't fork");
  });

  it('--init runs an init as PID 1 that reaps and passes the exit code on', async () => {
    const r = await kiln(root, 'run', '--rm', '--init', 'busybox', 'sh', '-c', 'ps -o pid,comm | grep -w 1; exit 3');
    expect(r.stdout).toMatch(/^\s*1 kiln-init\n$/);
    expect(r.code).toBe(3);
  });

  it('refuses to remove a running container without -f', async () => {
    const started = kilnBin(root, ['run', '-d', '--name', 'busy', 'busybox', 'sleep', '30']);
    expect(started.stderr).toBe('');
    expect(started.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const rm = await kiln(root, 'rm', 'busy');
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain('container is running');
    expect((await kiln(root, 'rm', '-f', 'busy')).code).toBe(0);
  });

  it('commits a container to an image with -c changes; diff and export show its changes', async () => {
    await kiln(root, 'run', '--name', 'changed', 'busybox', 'sh', '-c', 'echo data > /root/new.txt; rm /bin/vi');
    const diff = (await kiln(root, 'diff', 'changed')).stdout;
    expect(diff).toContain('A /root/new.txt\n');
    expect(diff).toContain('D /bin/vi\n');
    expect(diff).toContain('C /root\n');
    const commit = await kiln(root, 'commit', '-c', 'CMD ["cat", "/root/new.txt"]', '-c', 'ENV MODE=committed', '-m', 'note', 'changed', 'committed:v1');
    expect(commit.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await kiln(root, 'run', '--rm', 'committed:v1')).stdout).toBe('data\n');
    expect((await kiln(root, 'run', '--rm', 'committed:v1', 'sh', '-c', 'echo $MODE; ls /bin/vi 2>&1 || true')).stdout).toMatch(/^committed\nls: \/bin\/vi: No such file/);
    const out = path.join(scratch, 'export.tar');
    expect((await kiln(root, 'export', 'changed', '-o', out)).code).toBe(0);
    const { execFileSync } = await import('node:child_process');
    const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n');
    expect(names).toContain('root/new.txt');
    expect(names).not.toContain('bin/vi');
  });

  it('kiln cp never leaves the container root through symlinks', async () => {
    await kiln(root, 'run', '--name', 'linky', 'busybox', 'sh', '-c', 'mkdir -p /srv && ln -s /etc /srv/etc-link && ln -s /etc/passwd /srv/pw && ln -s ../../../../etc /srv/up');
    const canary = path.join(scratch, 'canary.txt');
    writeFileSync(canary, 'canary\n');
    // into a directory through an absolute symlink: lands in the container's /etc
    expect((await kiln(root, 'cp', canary, 'linky:/srv/etc-link/')).code).toBe(0);
    expect((await kiln(root, 'cp', canary, 'linky:/srv/up/')).code).toBe(0);
    expect(existsSync('/etc/canary.txt')).toBe(false);
    const outDir = path.join(scratch, 'out');
    mkdirSync(outDir);
    expect((await kiln(root, 'cp', 'linky:/srv/etc-link/canary.txt', outDir)).code).toBe(0);
    expect(readFileSync(path.join(outDir, 'canary.txt'), 'utf8')).toBe('canary\n');
    // copying out a symlink copies the link itself, never the host file it would name
    await kiln(root, 'cp', 'linky:/srv/pw', path.join(outDir, 'pw'));
    const { readlinkSync } = await import('node:fs');
    expect(readlinkSync(path.join(outDir, 'pw'))).toBe('/etc/passwd');
  });

  it('a volume mount target that is a symlink to a host path stays inside the container', async () => {
    const committed = await kiln(root, 'run', '--name', 'evil-base', 'busybox', 'sh', '-c', `mkdir -p /srv && ln -s ${scratch} /srv/escape`);
    expect(committed.code).toBe(0);
    await kiln(root, 'commit', 'evil-base', 'evil:v1');
    const hostSide = path.join(scratch, 'victim');
    mkdirSync(hostSide, { recursive: true });
    symlinkSync('/nonexistent', path.join(hostSide, 'keep'));
    const r = await kiln(root, 'run', '--rm', '--tmpfs', `/srv/escape/victim`, 'evil:v1', 'sh', '-c', 'touch /srv/escape/victim/pwned; echo done');
    expect(r.stdout).toContain('done');
    expect(existsSync(path.join(hostSide, 'pwned'))).toBe(false);
  });
});
