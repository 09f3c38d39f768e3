import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../helpers/cli.js';
import { containerSkipReason, importBusybox } from '../helpers/busybox.js';

const reason = containerSkipReason();
if (reason) console.warn(`skipping kiln build end-to-end tests: ${reason}`);

interface Ev {
  type: string;
  name?: string;
  digest: string;
  reason?: { kind: string; message: string };
  text?: string;
}

function events(stderr: string): Ev[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Ev);
}

const ran = (evs: Ev[]) => evs.filter((e) => e.type === 'vertex.started' && /\] (RUN|COPY|WORKDIR|ADD)/.test(e.name ?? '')).map((e) => e.name!);
const misses = (evs: Ev[]) => Object.fromEntries(evs.filter((e) => e.type === 'vertex.cacheMiss').map((e) => [e.name!.replace(/^\[[^\]]+\] /, ''), `${e.reason!.kind}: ${e.reason!.message}`]));

/** A snapshot record in the snapshotter's metadata file, as far as these tests edit it. */
interface SnapshotRecordJson {
  id: string;
  created: string;
  unsyncedBoot?: string;
}

/** Read the snapshot records of `root`, let `fn` change them, write them back; returns them. */
function editSnapshots(root: string, fn: (snapshots: Record<string, SnapshotRecordJson>) => void = () => undefined): Record<string, SnapshotRecordJson> {
  const dir = path.join(root, 'snapshots');
  const file = readdirSync(dir).map((d) => path.join(dir, d, 'metadata.json')).find((f) => existsSync(f))!;
  const meta = JSON.parse(readFileSync(file, 'utf8')) as { snapshots: Record<string, SnapshotRecordJson> };
  fn(meta.snapshots);
  writeFileSync(file, JSON.stringify(meta));
  return meta.snapshots;
}

/** What a reboot leaves: every snapshot committed without a sync belongs to an earlier boot. Returns how many. */
function simulateReboot(root: string): number {
  let n = 0;
  editSnapshots(root, (all) => {
    for (const r of Object.values(all)) {
      if (r.unsyncedBoot === undefined) continue;
      r.unsyncedBoot = 'an-earlier-boot';
      n++;
    }
  });
  return n;
}

/** Make every snapshot an hour old: prune never removes one committed in the last minute. */
function ageSnapshots(root: string): void {
  editSnapshots(root, (all) => {
    for (const r of Object.values(all)) r.created = new Date(Date.now() - 3_600_000).toISOString();
  });
}

const snapshotNames = (root: string): string[] => Object.keys(editSnapshots(root));

function write(dir: string, files: Record<string, string>): void {
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), v);
  }
}

describe.skipIf(!!reason)('kiln build end to end', () => {
  let root = '';
  let ctx = '';
  let tmp = '';
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-build-e2e-'));
    root = path.join(tmp, 'root');
    ctx = path.join(tmp, 'ctx');
    importBusybox(root);
    write(ctx, {
      'Dockerfile': `FROM busybox AS builder
ARG GREETING=hello
WORKDIR /src
COPY app/ ./
RUN --mount=type=cache,target=/cache echo run >> /cache/count && wc -l < /cache/count > /count.txt && echo "$GREETING" > /greeting && cat main.txt > /out.txt
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-size

FROM busybox AS broken
RUN exit 3

FROM busybox
COPY --from=builder /out.txt /greeting /secret-size /srv/
CMD ["cat", "/srv/out.txt"]
`,
      'app/main.txt': 'v1\n',
      'app/other.txt': 'unchanged\n',
      'secret.txt': 'TOPSECRETVALUE',
    });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const build = (...args: string[]) => kiln(root, 'build', '--progress', 'rawjson', '--secret', `id=token,src=${path.join(ctx, 'secret.txt')}`, ...args, ctx);

  it('builds, caches every step on a rebuild, and explains each miss', async () => {
    const first = await build('-t', 'e2e:one', '--iidfile', path.join(tmp, 'iid'), '--metadata-file', path.join(tmp, 'meta.json'));
    expect(first.stderr).not.toContain('"type":"vertex.error"');
    expect(first.code).toBe(0);
    const evs = events(first.stderr);
    expect(ran(evs).length).toBeGreaterThanOrEqual(5);
    // the unreachable broken stage never ran
    expect(evs.some((e) => e.name?.includes('exit 3'))).toBe(false);
    expect(Object.values(misses(evs)).every((m) => m.startsWith('first-build'))).toBe(true);
    const iid = readFileSync(path.join(tmp, 'iid'), 'utf8');
    expect(iid).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(path.join(tmp, 'meta.json'), 'utf8'))['containerimage.config.digest']).toBe(iid);

    const again = await build('-t', 'e2e:one', '--iidfile', path.join(tmp, 'iid2'));
    expect(ran(events(again.stderr))).toEqual([]);
    expect(readFileSync(path.join(tmp, 'iid2'), 'utf8')).toBe(iid);

    writeFileSync(path.join(ctx, 'app/main.txt'), 'v2\n');
    const changed = events((await build('-t', 'e2e:two')).stderr);
    expect(misses(changed)).toMatchObject({
      'COPY app/ ./': 'context-file: context file "app/main.txt" changed',
    });
    expect(misses(changed)['RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-size']).toMatch(/^earlier-step: an earlier step ran: \[builder 3\/5\] COPY app\/ \.\/ \(context file "app\/main.txt" changed\)/);

    const arg = events((await build('-t', 'e2e:three', '--build-arg', 'GREETING=bonjour')).stderr);
    const m = misses(arg);
    expect(m['WORKDIR /src']).toBeUndefined();
    expect(m['COPY app/ ./']).toBeUndefined();
    expect(Object.entries(m).find(([k]) => k.startsWith('RUN --mount=type=cache'))?.[1]).toMatch(/^env: ARG GREETING changed \("hello" -> "bonjour"\)/);

    const nc = events((await build('-t', 'e2e:four', '--build-arg', 'GREETING=bonjour', '--no-cache')).stderr);
    expect(Object.values(misses(nc)).every((r) => r.startsWith('no-cache'))).toBe(true);
  });

  it('runs the image: cache mount persisted across builds, secret used but never stored', async () => {
    const out = path.join(tmp, 'rootfs-out');
    const r = await kiln(root, 'build', '--progress', 'quiet', '--secret', `id=token,src=${path.join(ctx, 'secret.txt')}`, '--build-arg', 'GREETING=bonjour', '-o', `type=local,dest=${out}`, ctx);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(out, 'srv/out.txt'), 'utf8')).toBe('v2\n');
    expect(readFileSync(path.join(out, 'srv/greeting'), 'utf8')).toBe('bonjour\n');
    expect(readFileSync(path.join(out, 'srv/secret-size'), 'utf8').trim()).toBe('14');
    // the cache mount kept its contents: several RUNs appended to it, none of it is in the image
    expect(existsSync(path.join(out, 'cache'))).toBe(false);
    const cacheDirs = readdirSync(path.join(root, 'cache-mounts')).filter((d) => /^[0-9a-f]{32}$/.test(d));
    expect(cacheDirs.length).toBe(1);
    expect(readFileSync(path.join(root, 'cache-mounts', cacheDirs[0]!, 'count'), 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(3);
    // the secret value is in no stored blob (layers read uncompressed), record or history
    const blobs = path.join(root, 'content/blobs/sha256');
    for (const hex of readdirSync(blobs)) {
      const raw = readFileSync(path.join(blobs, hex));
      const data = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
      expect(data.includes('TOPSECRETVALUE'), `blob ${hex}`).toBe(false);
    }
    let found = '';
    try {
      found = execFileSync('grep', ['-rl', 'TOPSECRETVALUE', path.join(root, 'meta'), path.join(root, 'snapshots')], { encoding: 'utf8' });
    } catch (err) {
      expect((err as { status: number }).status).toBe(1); // grep: no match
    }
    expect(found).toBe('');
  });

  it('a failing RUN exits 1 with its location, output, exit code and a debug command; the build stops', async () => {
    const dir = path.join(tmp, 'fail');
    write(dir, { Dockerfile: 'FROM busybox\nRUN echo preparing\nRUN echo about to fail && exit 42\nRUN echo never\n' });
    const r = await kiln(root, 'build', '--progress', 'plain', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('about to fail');
    expect(r.stderr).toMatch(/Dockerfile:3:1: error: process "\/bin\/sh -c echo about to fail && exit 42" did not complete successfully: exit code: 42/);
    expect(r.stderr).toContain('> 3 | RUN echo about to fail && exit 42');
    expect(r.stderr).not.toMatch(/^#\d+ \[3\/3\]/m);
    const hint = /open a shell in the state before this step: (kiln run -it --rm [0-9a-f]{12} \/bin\/sh)/.exec(r.stderr);
    expect(hint).not.toBeNull();
    // the debug image holds the state before the failing step
    const id = hint![1]!.split(' ')[4]!;
    const check = await kiln(root, 'run', '--rm', id, 'sh', '-c', 'echo ok');
    expect(check.stdout).toBe('ok\n');
  });

  it('ADD: URLs (checked by --checksum, served from 127.0.0.1) and local archives unpacked by content', async () => {
    const http = await import('node:http');
    const { createHash } = await import('node:crypto');
    const body = 'downloaded\n';
    const server = http.createServer((req, res) => {
      if (req.url === '/f.txt') res.end(body);
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = path.join(tmp, 'add');
      const sum = createHash('sha256').update(body).digest('hex');
      write(dir, {
        Dockerfile: `FROM busybox\nADD --checksum=sha256:${sum} http://127.0.0.1:${port}/f.txt /dl/\nADD pack.tar.gz /unpacked/\nADD http://127.0.0.1:${port}/f.txt /plain.txt\n`,
        'src/inner.txt': 'from the archive',
      });
      execFileSync('tar', ['-czf', path.join(dir, 'pack.tar.gz'), '-C', path.join(dir, 'src'), 'inner.txt']);
      const out = path.join(tmp, 'add-out');
      const r = await kiln(root, 'build', '--progress', 'plain', '-o', `type=local,dest=${out}`, dir);
      expect(r.code).toBe(0);
      expect(readFileSync(path.join(out, 'dl/f.txt'), 'utf8')).toBe(body);
      expect(readFileSync(path.join(out, 'plain.txt'), 'utf8')).toBe(body);
      expect(readFileSync(path.join(out, 'unpacked/inner.txt'), 'utf8')).toBe('from the archive');
      write(dir, { Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/f.txt /dl/\n` });
      const bad = await kiln(root, 'build', '--progress', 'plain', dir);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/digest mismatch/);
    } finally {
      server.close();
    }
  });

  it('Ctrl-C cancels running steps (processes killed, mounts released) and keeps completed ones cached', async () => {
    const { spawn } = await import('node:child_process');
    const { repoRoot } = await import('../helpers/busybox.js');
    const dir = path.join(tmp, 'ctrlc');
    write(dir, { Dockerfile: 'FROM busybox AS slow\nRUN sleep 30 && echo late > /late\nFROM busybox AS quick\nRUN echo quick > /q\nFROM busybox\nCOPY --from=slow /late /late\nCOPY --from=quick /q /q\n' });
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/kiln.js'), '--root', root, 'build', '--progress', 'plain', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const started = Date.now();
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/RUN sleep 30/.test(err)) setTimeout(resolve, 3_000); // the quick stage finishes meanwhile
      });
      setTimeout(resolve, 20_000);
    });
    child.kill('SIGINT');
    const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(err).toMatch(/#\d+ CANCELED/);
    expect(err).toContain('SOLVE_CANCELED');
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain('kiln-run-');
    // the step that finished before the interrupt is reused
    const again = await kiln(root, 'build', '--progress', 'rawjson', '--target', 'quick', dir);
    expect(ran(events(again.stderr))).toEqual([]);
  });

  it('a build killed with SIGKILL takes its RUN along; the next command unmounts and drops what it left', async () => {
    const { spawn } = await import('node:child_process');
    const { repoRoot } = await import('../helpers/busybox.js');
    const dir = path.join(tmp, 'killed');
    const marker = `kiln-killed-${process.pid}`;
    write(dir, { Dockerfile: `FROM busybox\nRUN sleep 30; echo ${marker}\n` });
    const running = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false; // gone meanwhile
      }
    });
    const until = async (ok: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end && !ok(); ) await new Promise((r) => setTimeout(r, 50));
      return ok();
    };
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/kiln.js'), '--root', root, 'build', '--progress', 'plain', dir], { stdio: ['ignore', 'ignore', 'ignore'] });
    expect(await until(running, 20_000)).toBe(true);
    const ownMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(`/kiln-run-${child.pid}-`);
    expect(ownMounts()).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await until(() => !running(), 5_000)).toBe(true); // the container died with the build
    expect(ownMounts()).toBe(true); // a killed process cleans nothing itself
    const df = await kiln(root, 'system', 'df');
    expect(df.code, df.stderr).toBe(0);
    expect(ownMounts()).toBe(false);
    expect(Object.keys(editSnapshots(root)).filter((k) => k.startsWith('run-'))).toEqual([]);
  });

  it('-o type=oci|docker write gzip layers (the archive leaves the machine); the store keeps plain tars, same image ID', async () => {
    const manifestOf = (dir: string, desc: { digest: string }) => JSON.parse(readFileSync(path.join(dir, 'blobs/sha256', desc.digest.slice(7)), 'utf8'));
    const layerTypes = (dir: string, m: { layers: Array<{ mediaType: string; digest: string }> }) =>
      m.layers.map((l) => {
        const head = readFileSync(path.join(dir, 'blobs/sha256', l.digest.slice(7))).subarray(0, 2);
        return `${l.mediaType} ${head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : 'plain'}`;
      });
    const iid = path.join(tmp, 'oci.iid');
    for (const type of ['oci', 'docker']) {
      const archive = path.join(tmp, `out-${type}.tar`);
      const r = await kiln(root, 'build', '--progress', 'quiet', '--secret', `id=token,src=${path.join(ctx, 'secret.txt')}`, '-t', 'e2e:archived', '--iidfile', iid, '-o', `type=${type},dest=${archive}`, ctx);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const dir = path.join(tmp, `unpacked-${type}`);
      mkdirSync(dir, { recursive: true });
      execFileSync('tar', ['-xf', archive, '-C', dir]);
      const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
      // the -t name travels in the archive (buildx gives it to the exporter), so docker load tags it
      expect(index.manifests[0].annotations?.['io.containerd.image.name']).toBe('docker.io/library/e2e:archived');
      const m = manifestOf(dir, index.manifests[0]);
      expect(m.config.digest).toBe(readFileSync(iid, 'utf8'));
      expect(m.layers.length).toBeGreaterThan(1);
      for (const t of layerTypes(dir, m)) expect(t).toBe('application/vnd.oci.image.layer.v1.tar+gzip gzip');
    }
    // the local image: same config, the build's own layers plain (the base image's stay as imported)
    const store = JSON.parse(readFileSync(path.join(root, 'meta/images.json'), 'utf8'));
    const local = manifestOf(path.join(root, 'content'), store.images['docker.io/library/e2e:archived'].target);
    expect(local.config.digest).toBe(readFileSync(iid, 'utf8'));
    expect(layerTypes(path.join(root, 'content'), local).at(-1)).toBe('application/vnd.oci.image.layer.v1.tar plain');
  });

  it('after a reboot the unsynced step snapshots are dropped; the image steps, whose layers were written, are re-created from them: still all CACHED, same image', async () => {
    const iid1 = path.join(tmp, 'reboot1.iid');
    const first = await build('-t', 'e2e:reboot', '--iidfile', iid1);
    expect(first.code).toBe(0);
    expect(simulateReboot(root)).toBeGreaterThan(0); // build steps are committed without a sync
    const iid2 = path.join(tmp, 'reboot2.iid');
    const again = await build('-t', 'e2e:reboot', '--iidfile', iid2);
    expect(again.code).toBe(0);
    expect(ran(events(again.stderr))).toEqual([]);
    expect(readFileSync(iid2, 'utf8')).toBe(readFileSync(iid1, 'utf8'));
    expect((await kiln(root, 'run', '--rm', 'e2e:reboot')).stdout).toBe(readFileSync(path.join(ctx, 'app/main.txt'), 'utf8'));
  });

  it('--no-cache runs every step again and the image holds what this run made; the next build caches it', async () => {
    const dir = path.join(tmp, 'nocache');
    write(dir, { Dockerfile: 'FROM busybox\nRUN head -c 8 /dev/urandom | od -x > /r\nRUN true\n' });
    const made = async (...flags: string[]) => {
      const b = await kiln(root, 'build', '--progress', 'rawjson', '-t', 'e2e:nocache', ...flags, dir);
      expect(b.code, b.stderr).toBe(0);
      return { ran: ran(events(b.stderr)).length, r: (await kiln(root, 'run', '--rm', 'e2e:nocache', 'cat', '/r')).stdout };
    };
    const first = await made();
    const again = await made('--no-cache');
    expect(again.ran).toBe(2);
    expect(again.r).not.toBe(first.r);
    const cached = await made();
    expect(cached.ran).toBe(0);
    expect(cached.r).toBe(again.r);
  });

  it("running an image just built links the build steps' trees instead of extracting its layers; they outlive the steps", async () => {
    const root2 = path.join(tmp, 'link-root');
    const dir = path.join(tmp, 'link');
    importBusybox(root2);
    write(dir, { Dockerfile: 'FROM busybox\nRUN head -c 200000 /dev/urandom > /big && mkdir -p /d/e && echo x > /d/e/f && rm /bin/ls\n' });
    expect((await kiln(root2, 'build', '-t', 'e2e:link', dir)).code).toBe(0);
    const first = await kiln(root2, 'run', '--rm', 'e2e:link', 'sh', '-c', 'wc -c < /big; cat /d/e/f; test -e /bin/ls && echo has-ls || echo no-ls');
    expect(first.stdout).toBe('200000\nx\nno-ls\n');
    const snapshots = editSnapshots(root2);
    const fsOf = (n: string) => path.join(root2, 'snapshots', 'overlayfs', 'snapshots', snapshots[n]!.id, 'fs');
    const step = Object.keys(snapshots).find((n) => n.startsWith('build-'))!;
    const layer = Object.keys(snapshots).find((n) => n.startsWith('layer-') && existsSync(path.join(fsOf(n), 'big')))!;
    expect(statSync(path.join(fsOf(layer), 'big')).ino).toBe(statSync(path.join(fsOf(step), 'big')).ino);
    // a reboot drops the unsynced step snapshots; the image's layer keeps the data
    simulateReboot(root2);
    const again = await kiln(root2, 'run', '--rm', 'e2e:link', 'sh', '-c', 'wc -c < /big; cat /d/e/f; test -e /bin/ls && echo has-ls || echo no-ls');
    expect(again.stdout).toBe(first.stdout);
    expect(snapshotNames(root2).some((n) => n.startsWith('build-'))).toBe(false);
  });

  it('with a selection memo written, a no-op rebuild runs nothing; an edit that keeps size and times is still seen', async () => {
    const root2 = path.join(tmp, 'memo-root');
    const dir = path.join(tmp, 'memo');
    importBusybox(root2);
    write(dir, { Dockerfile: 'FROM busybox\nCOPY src /src\nRUN cat /src/a.txt > /seen\n', 'src/a.txt': 'one\n', 'src/d/b.txt': 'b\n' });
    // a context last edited a while ago (a memo is only written for one that is not being edited)
    const past = new Date('2026-01-01T00:00:00Z');
    const age = (p: string): void => {
      if (statSync(p).isDirectory()) for (const n of readdirSync(p)) age(path.join(p, n));
      utimesSync(p, past, past);
    };
    age(dir);
    const build = async () => {
      const b = await kiln(root2, 'build', '--progress', 'rawjson', '-t', 'e2e:memo', dir);
      expect(b.code, b.stderr).toBe(0);
      return { ran: ran(events(b.stderr)), seen: (await kiln(root2, 'run', '--rm', 'e2e:memo', 'cat', '/seen')).stdout };
    };
    expect((await build()).seen).toBe('one\n');
    const memos = () => readdirSync(path.join(root2, 'meta', 'context-cache')).filter((f) => f.endsWith('.memo'));
    expect(memos()).toHaveLength(1);
    expect((await build()).ran).toEqual([]);
    writeFileSync(path.join(dir, 'src', 'a.txt'), 'two\n');
    age(dir);
    const changed = await build();
    expect(changed.ran).toHaveLength(2);
    expect(changed.seen).toBe('two\n');
  });

  it('COPY --from reads a file of the top layer, of a lower layer, through a link, and not one the top layer deleted', async () => {
    const dir = path.join(tmp, 'from-layers');
    const stage = `FROM busybox AS src
RUN mkdir -p /d/sub /real && echo lower > /d/sub/lower && echo old > /d/changed && echo gone > /gone && echo via-link > /real/f
RUN echo top > /d/sub/top && chmod 640 /d/sub/top && echo new > /d/changed && rm /gone && ln -s /real /link
`;
    write(dir, {
      Dockerfile: `${stage}FROM scratch
COPY --from=src /d/sub/top /out/top
COPY --from=src /d/sub/lower /out/lower
COPY --from=src /d/changed /out/changed
COPY --from=src /link/f /out/via-link
`,
      'gone.Dockerfile': `${stage}FROM scratch\nCOPY --from=src /gone /x\n`,
    });
    const out = path.join(tmp, 'from-layers-out');
    const r = await kiln(root, 'build', '--progress', 'plain', '-o', `type=local,dest=${out}`, dir);
    expect(r.code, r.stderr).toBe(0);
    const read = (n: string) => readFileSync(path.join(out, 'out', n), 'utf8');
    expect([read('top'), read('lower'), read('changed'), read('via-link')]).toEqual(['top\n', 'lower\n', 'new\n', 'via-link\n']);
    expect(statSync(path.join(out, 'out', 'top')).mode & 0o777).toBe(0o640);
    const gone = await kiln(root, 'build', '--progress', 'plain', '-f', path.join(dir, 'gone.Dockerfile'), dir);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
  });

  it('COPY cannot follow a context symlink out of the context', async () => {
    const dir = path.join(tmp, 'escape');
    write(dir, { Dockerfile: 'FROM busybox\nCOPY link /x\n' });
    symlinkSync('/etc/hostname', path.join(dir, 'link'));
    const r = await kiln(root, 'build', '--progress', 'plain', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not found/);
  });
});

describe.skipIf(!!reason)('CI cache and reproducible images', () => {
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-build-ci-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** A new root with busybox imported, and a context `name` holding `dockerfile`. */
  const setup = (name: string, dockerfile: string): { root: string; ctx: string } => {
    const root = path.join(tmp, `${name}-root`);
    const ctx = path.join(tmp, name);
    importBusybox(root);
    write(ctx, { Dockerfile: dockerfile });
    return { root, ctx };
  };

  it('--cache-to then --cache-from in a brand-new root: everything CACHED, same image ID; export is incremental', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const ctx = path.join(tmp, 'ctx');
    const cache = path.join(tmp, 'cache');
    importBusybox(a);
    // the same base image in both roots (what a registry gives CI)
    const saved = path.join(tmp, 'busybox.tar');
    expect((await kiln(a, 'save', '-o', saved, 'busybox:latest')).code).toBe(0);
    expect((await kiln(b, 'load', '-i', saved)).code).toBe(0);
    write(ctx, { Dockerfile: 'FROM busybox AS b1\nRUN echo one > /one\nFROM busybox\nCOPY --from=b1 /one /one\nRUN echo two > /two\n', 'x.txt': 'x' });
    const first = await kiln(a, 'build', '--progress', 'rawjson', '--iidfile', path.join(tmp, 'iid-a'), '--cache-to', `type=local,dest=${cache},mode=max`, ctx);
    expect(first.code).toBe(0);
    const again = await kiln(a, 'build', '--progress', 'rawjson', '--cache-to', `type=local,dest=${cache},mode=max`, ctx);
    const exportLog = events(again.stderr).find((e) => e.type === 'vertex.log' && e.text?.includes('new blobs'));
    expect(exportLog?.text).toMatch(/, 0 new blobs \(0 bytes\)/);
    const second = await kiln(b, 'build', '--progress', 'rawjson', '--iidfile', path.join(tmp, 'iid-b'), '--cache-from', `type=local,src=${cache}`, ctx);
    expect(second.code).toBe(0);
    const evs = events(second.stderr);
    expect(ran(evs)).toEqual([]);
    expect(evs.filter((e) => e.type === 'vertex.cached').length).toBeGreaterThanOrEqual(4);
    expect(readFileSync(path.join(tmp, 'iid-b'), 'utf8')).toBe(readFileSync(path.join(tmp, 'iid-a'), 'utf8'));
    const run = await kiln(b, 'run', '--rm', readFileSync(path.join(tmp, 'iid-b'), 'utf8').slice(7, 19), 'cat', '/one', '/two');
    expect(run.stdout).toBe('one\ntwo\n');
  });

  it("an intermediate stage's layers are written only when something needs them: the image, a cache export", async () => {
    // the builder's RUN layer holds a 333,333-byte file that never reaches the final image
    const { root, ctx } = setup('lazy', 'FROM busybox AS builder\nRUN head -c 333333 /dev/urandom > /scratch.bin && echo done > /artifact\nFROM busybox\nCOPY --from=builder /artifact /artifact\n');
    const cache = path.join(tmp, 'lazy-cache');
    const bigBlobs = (dir: string) =>
      readdirSync(path.join(dir, 'blobs', 'sha256')).filter((f) => {
        const size = statSync(path.join(dir, 'blobs', 'sha256', f)).size;
        return size >= 333333 && size < 340000;
      });
    const first = await kiln(root, 'build', '--progress', 'plain', '-t', 'lazy:final', ctx);
    expect(first.code, first.stderr).toBe(0);
    expect(bigBlobs(path.join(root, 'content'))).toEqual([]);
    // a cache export needs every record's layer: written now, from the step's snapshot, nothing runs
    const exported = await kiln(root, 'build', '--progress', 'rawjson', '--cache-to', `type=local,dest=${cache},mode=max`, ctx);
    expect(exported.code, exported.stderr).toBe(0);
    expect(ran(events(exported.stderr))).toEqual([]);
    expect(bigBlobs(cache)).toHaveLength(1);
    expect(bigBlobs(path.join(root, 'content'))).toEqual(bigBlobs(cache));
    // so does an image of the builder stage
    const builder = await kiln(root, 'build', '--progress', 'rawjson', '--target', 'builder', '-t', 'lazy:builder', ctx);
    expect(builder.code, builder.stderr).toBe(0);
    expect(ran(events(builder.stderr))).toEqual([]);
    expect((await kiln(root, 'run', '--rm', 'lazy:builder', 'wc', '-c', '/scratch.bin')).stdout).toMatch(/^\s*333333 /);
  });

  it('kiln system prune -a removes the build steps\' snapshots; a container keeps its image, a running build keeps everything', async () => {
    const { root, ctx } = setup('prune', 'FROM busybox AS b\nRUN head -c 300000 /dev/urandom > /scratch\nFROM busybox\nCOPY --from=b /scratch /x\nRUN true\n');
    expect((await kiln(root, 'build', '-t', 'prune:one', ctx)).code).toBe(0);
    expect((await kiln(root, 'create', '--name', 'keeper', 'prune:one', 'wc', '-c', '/x')).code).toBe(0);
    // docker's rule: an image a container was created from is not removed under it
    const rmi = await kiln(root, 'rmi', 'prune:one');
    expect(rmi.code).not.toBe(0);
    expect(rmi.stderr).toContain('container keeper is using its referenced image');
    ageSnapshots(root);
    const steps = snapshotNames(root).filter((n) => n.startsWith('build-'));
    expect(steps.length).toBeGreaterThanOrEqual(3);
    // a build in progress (its lease) keeps every snapshot
    const leases = path.join(root, 'meta', 'leases');
    mkdirSync(leases, { recursive: true });
    writeFileSync(path.join(leases, 'running-build.json'), JSON.stringify({ pid: process.pid, expires: Date.now() + 60_000, digests: [] }));
    const held = await kiln(root, 'system', 'prune', '-a', '-f');
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toContain('Snapshots kept: 1 build or pull running');
    expect(snapshotNames(root).filter((n) => n.startsWith('build-'))).toEqual(steps);
    rmSync(path.join(leases, 'running-build.json'));
    const pruned = await kiln(root, 'system', 'prune', '-a', '-f');
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/Deleted snapshots: [1-9]/);
    // the build cache's trees are gone (the image is kept for its container, unpacked as layers)
    expect(snapshotNames(root).filter((n) => n.startsWith('build-'))).toEqual([]);
    expect((await kiln(root, 'start', 'keeper')).code).toBe(0);
    expect((await kiln(root, 'wait', 'keeper')).stdout.trim()).toBe('0');
    expect((await kiln(root, 'logs', 'keeper')).stdout).toMatch(/^\s*300000 \/x/);
    expect((await kiln(root, 'run', '--rm', 'prune:one', 'wc', '-c', '/x')).stdout).toMatch(/^\s*300000 \/x/);
  });

  it('kiln builder prune: what can no longer be used, --filter until=DURATION, --all', async () => {
    const { root, ctx } = setup('bprune', 'FROM busybox AS b\nRUN echo b > /b\nFROM busybox\nCOPY --from=b /b /b\nRUN echo final > /f\n');
    const build = async () => {
      const r = await kiln(root, 'build', '--progress', 'rawjson', '-t', 'bprune:1', ctx);
      expect(r.code, r.stderr).toBe(0);
      return ran(events(r.stderr));
    };
    const records = () => readdirSync(path.join(root, 'meta', 'cache', 'records')).filter((f) => f.endsWith('.json'));
    expect(await build()).toHaveLength(3);
    const all = records().length;
    // a reboot drops the unsynced step snapshots: the builder stage's records (layer never written)
    // can no longer be used, the final stage's can (their layers were written for the image)
    simulateReboot(root);
    const dangling = await kiln(root, 'builder', 'prune', '-f');
    expect(dangling.code, dangling.stderr).toBe(0);
    expect(dangling.stdout).toContain('Deleted build cache records: 1\n');
    expect(records()).toHaveLength(all - 1);
    expect(await build()).toEqual([]);
    // age: nothing is an hour old yet; once it is, until=1h takes it
    expect((await kiln(root, 'builder', 'prune', '-f', '--filter', 'until=1h')).stdout).toContain('Deleted build cache records: 0\n');
    const ageRecords = () => {
      const past = new Date(Date.now() - 2 * 3_600_000);
      for (const f of records()) {
        const file = path.join(root, 'meta', 'cache', 'records', f);
        const rec = JSON.parse(readFileSync(file, 'utf8'));
        rec.created = past.toISOString();
        writeFileSync(file, JSON.stringify(rec));
        utimesSync(file, past, past);
      }
    };
    ageRecords();
    // a build that finds a record uses it: it is not old any more
    expect(await build()).toEqual([]);
    expect((await kiln(root, 'builder', 'prune', '-f', '--filter', 'until=1h30m')).stdout).toContain('Deleted build cache records: 0\n');
    ageRecords();
    expect((await kiln(root, 'builder', 'prune', '-f', '--filter', 'until=1h30m')).stdout).toContain(`Deleted build cache records: ${all - 1}\n`);
    expect(records()).toEqual([]);
    expect(await build()).toHaveLength(3);
    expect((await kiln(root, 'builder', 'prune', '-a', '-f')).stdout).toContain(`Deleted build cache records: ${all}\n`);
    const bad = await kiln(root, 'builder', 'prune', '-f', '--filter', 'label=x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--filter');
  });

  it('kiln builder prune --keep-storage drops the oldest cache until the rest fits; the image still builds from cache', async () => {
    // the builder's RUN keeps 2 MB in its snapshot; the final stage needs a few bytes of it
    const { root, ctx } = setup('keep', 'FROM busybox AS b\nRUN head -c 2000000 /dev/urandom > /big && echo small > /small\nFROM busybox\nCOPY --from=b /small /small\n');
    expect((await kiln(root, 'build', '-t', 'keep:1', ctx)).code).toBe(0);
    const bad = await kiln(root, 'builder', 'prune', '-f', '--keep-storage', 'lots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--keep-storage');
    expect((await kiln(root, 'builder', 'prune', '-f', '--keep-storage', '10MB')).stdout).toContain('Deleted build cache records: 0\n');
    ageSnapshots(root);
    const kept = await kiln(root, 'builder', 'prune', '-f', '--keep-storage', '1MB');
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/Deleted build cache records: [1-9]/);
    expect(kept.stdout).toMatch(/Deleted snapshots: [1-9]/);
    const df = await kiln(root, 'system', 'df', '--format', 'json');
    const cacheRow = df.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Type: string; Size: string }).find((r) => r.Type === 'Build Cache')!;
    expect(cacheRow.Size).not.toMatch(/MB$/);
    const again = await kiln(root, 'build', '--progress', 'rawjson', '-t', 'keep:1', ctx);
    expect(again.code, again.stderr).toBe(0);
    expect(ran(events(again.stderr))).toEqual([]);
    expect((await kiln(root, 'run', '--rm', 'keep:1', 'cat', '/small')).stdout).toBe('small\n');
  });

  it('--cache-to/--cache-from type=registry through a local registry', async () => {
    const { registryUnavailable, startRegistry } = await import('../helpers/registry.js');
    const why = registryUnavailable();
    if (why) {
      console.warn(`skipping the registry cache test: ${why}`);
      return;
    }
    const reg = await startRegistry();
    try {
      const a = path.join(tmp, 'ra');
      const b = path.join(tmp, 'rb');
      const ctx = path.join(tmp, 'rctx');
      const saved = path.join(tmp, 'busybox.tar');
      expect((await kiln(a, 'load', '-i', saved)).code).toBe(0);
      expect((await kiln(b, 'load', '-i', saved)).code).toBe(0);
      write(ctx, { Dockerfile: 'FROM busybox\nRUN echo via-registry > /r\n' });
      const ref = `${reg.host}/kiln/cache:ci`;
      const first = await kiln(a, 'build', '--progress', 'plain', '--iidfile', path.join(tmp, 'ra.iid'), '--cache-to', `type=registry,ref=${ref},mode=max`, ctx);
      expect(first.code, first.stderr).toBe(0);
      // the cache crosses the network: its layer blobs are gzip (the local store keeps plain tars)
      const res = await fetch(`http://${reg.host}/v2/kiln/cache/manifests/ci`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      const cacheManifest = (await res.json()) as { layers: Array<{ mediaType: string }> };
      expect(cacheManifest.layers.length).toBeGreaterThan(0);
      for (const l of cacheManifest.layers) expect(l.mediaType).toMatch(/\+gzip$/);
      const second = await kiln(b, 'build', '--progress', 'rawjson', '--iidfile', path.join(tmp, 'rb.iid'), '--cache-from', `type=registry,ref=${ref}`, ctx);
      expect(second.code, second.stderr).toBe(0);
      expect(ran(events(second.stderr))).toEqual([]);
      expect(readFileSync(path.join(tmp, 'rb.iid'), 'utf8')).toBe(readFileSync(path.join(tmp, 'ra.iid'), 'utf8'));
    } finally {
      await reg.stop();
    }
  });

  it('SOURCE_DATE_EPOCH: two fresh roots give the same image digest', async () => {
    const ctx = path.join(tmp, 'repro');
    write(ctx, { Dockerfile: 'FROM busybox\nCOPY f.txt /f.txt\nRUN mkdir -p /data && echo built > /data/out && touch /data/stamp\nENV A=b\n', 'f.txt': 'content' });
    const saved = path.join(tmp, 'busybox.tar');
    const ids: string[] = [];
    const prev = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      for (const n of ['r1', 'r2']) {
        const r = path.join(tmp, n);
        expect((await kiln(r, 'load', '-i', saved)).code).toBe(0);
        const res = await kiln(r, 'build', '--progress', 'quiet', '--iidfile', path.join(tmp, `${n}.iid`), ctx);
        expect(res.stderr).toBe('');
        ids.push(readFileSync(path.join(tmp, `${n}.iid`), 'utf8'));
        await new Promise((res2) => setTimeout(res2, 1100)); // a different wall clock for the second build
      }
    } finally {
      if (prev === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = prev;
    }
    expect(ids[0]).toMatch(/^sha256:/);
    expect(ids[1]).toBe(ids[0]);
  });

  it('COPY --from written into the unmounted upper dir gives the image a copy through the overlay mount gives', async () => {
    const dir = path.join(tmp, 'upper-copy');
    write(dir, {
      Dockerfile: `FROM busybox AS src
RUN for f in a b c d e f; do echo $f > /$f; done
FROM busybox AS base
RUN mkdir -p /opt/x/y /w/sub /o && chmod 750 /opt/x && chown 12:34 /opt/x/y && chmod 1777 /o && touch /w/sub/keep /existing
RUN rm -rf /w/sub
FROM base
COPY --from=src /a /opt/x/y/a
COPY --from=src /b /o/
COPY --from=src /c /new/deep/c
COPY --from=src --chown=5:6 /d /opt/x
COPY --from=src /e /w/sub/e
COPY --from=src /f /existing
`,
    });
    const saved = path.join(tmp, 'upper-copy-busybox.tar');
    importBusybox(path.join(tmp, 'upper-copy-base'));
    expect((await kiln(path.join(tmp, 'upper-copy-base'), 'save', '-o', saved, 'busybox:latest')).code).toBe(0);
    const ids: string[] = [];
    const prev = { sde: process.env.SOURCE_DATE_EPOCH, mount: process.env.KILN_COPY_VIA_MOUNT };
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      for (const viaMount of ['1', '0']) {
        process.env.KILN_COPY_VIA_MOUNT = viaMount;
        const r = path.join(tmp, `upper-copy-${viaMount}`);
        expect((await kiln(r, 'load', '-i', saved)).code).toBe(0);
        const iid = path.join(tmp, `upper-copy-${viaMount}.iid`);
        const res = await kiln(r, 'build', '--progress', 'quiet', '--iidfile', iid, '-o', `type=local,dest=${r}-out`, '-t', 'uc', dir);
        expect(res.code, res.stderr).toBe(0);
        ids.push(readFileSync(iid, 'utf8'));
      }
    } finally {
      for (const [k, v] of [['SOURCE_DATE_EPOCH', prev.sde], ['KILN_COPY_VIA_MOUNT', prev.mount]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(ids[0]).toMatch(/^sha256:/);
    expect(ids[1]).toBe(ids[0]);
    const out = path.join(tmp, 'upper-copy-0-out');
    const st = (p: string) => statSync(path.join(out, p));
    expect(st('opt/x').mode & 0o7777).toBe(0o750);
    expect([st('opt/x/y').uid, st('opt/x/y').gid]).toEqual([12, 34]);
    expect(st('o').mode & 0o7777).toBe(0o1777);
    expect([st('opt/x/d').uid, st('opt/x/d').gid]).toEqual([5, 6]);
    expect(['opt/x/y/a', 'o/b', 'new/deep/c', 'opt/x/d', 'w/sub/e', 'existing'].map((p) => readFileSync(path.join(out, p), 'utf8'))).toEqual(['a\n', 'b\n', 'c\n', 'd\n', 'e\n', 'f\n']);
    expect(readdirSync(path.join(out, 'w/sub'))).toEqual(['e']);
  });
});
