import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { openStores } from '../store/index.js';
import { sha256Digest } from './digest.js';
import { Capture, gzip, makeTar } from './testing.js';

async function kiln(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(['--root', root, ...args], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('kiln import / images / inspect / history / tag / rmi', () => {
  let dir: string;
  let root: string;
  let rootfs: Buffer;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-imgcli-'));
    root = path.join(dir, 'root');
    rootfs = await makeTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/hello', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'bin/hi', type: 'symlink', linkname: '/bin/hello' },
      { name: 'etc/motd', body: 'welcome\n' },
    ]);
    await fs.writeFile(path.join(dir, 'rootfs.tar'), rootfs);
    await fs.writeFile(path.join(dir, 'rootfs.tar.gz'), gzip(rootfs));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('imports a plain tar with changes and a message', async () => {
    const r = await kiln(root, 'import', path.join(dir, 'rootfs.tar'), 'hello:1',
      '-c', 'CMD ["/bin/hello"]', '-c', 'ENV A=1 B="two words"', '-c', 'EXPOSE 80 53/udp', '-c', 'LABEL org.x=y',
      '-c', 'WORKDIR /srv', '-c', 'USER 1000', '-c', 'VOLUME /data', '-c', 'STOPSIGNAL SIGINT', '-c', 'ONBUILD RUN echo x',
      '-c', 'ENTRYPOINT /bin/sh', '-m', 'first import');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const id = r.stdout.trim();
    const ins = await kiln(root, 'image', 'inspect', 'hello:1');
    expect(ins.code).toBe(0);
    const [img] = JSON.parse(ins.stdout) as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads arbitrary JSON
    expect(img!.Id).toBe(id);
    expect(img!.RepoTags).toEqual(['hello:1']);
    expect(img!.Comment).toBe('first import');
    expect(img!.Config.Cmd).toEqual(['/bin/hello']);
    expect(img!.Config.Entrypoint).toEqual(['/bin/sh', '-c', '/bin/sh']);
    expect(img!.Config.Env).toEqual(['A=1', 'B=two words']);
    expect(img!.Config.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(img!.Config.Labels).toEqual({ 'org.x': 'y' });
    expect(img!.Config.WorkingDir).toBe('/srv');
    expect(img!.Config.User).toBe('1000');
    expect(img!.Config.Volumes).toEqual({ '/data': {} });
    expect(img!.Config.StopSignal).toBe('SIGINT');
    expect(img!.Config.OnBuild).toEqual(['RUN echo x']);
    expect(img!.RootFS.Layers).toEqual([sha256Digest(rootfs)]);
    expect(img!.Size).toBe(rootfs.length);
    expect(img!.Descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(img!.History[0].comment).toBe('first import');
    const fmt = await kiln(root, 'image', 'inspect', '--format', '{{json .Config.Env}} {{.Os}}', 'hello:1');
    expect(fmt.stdout).toBe('["A=1","B=two words"] linux\n');
  });

  it('imports a gzip tar as is, from stdin too', async () => {
    const r = await kiln(root, 'import', path.join(dir, 'rootfs.tar.gz'), 'gz');
    expect(r.code).toBe(0);
    const s = await openStores(root);
    const img = await s.images.resolve('gz');
    expect(img.config.rootfs.diff_ids).toEqual([sha256Digest(rootfs)]);
    expect(img.manifest.layers[0]!.digest).toBe(sha256Digest(gzip(rootfs)));
    expect(img.manifest.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  });

  it('lists images like docker images', async () => {
    const r = await kiln(root, 'images');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$/);
    expect(r.stdout).toMatch(/\nhello\s+1\s+[a-f0-9]{12}\s+(Less than a second|\d+ seconds?) ago\s+\d+(\.\d+)?kB\n/);
    const q = await kiln(root, 'images', '-q');
    expect(q.stdout.trim().split('\n').every((l) => /^[a-f0-9]{12}$/.test(l))).toBe(true);
    const j = await kiln(root, 'images', '--format', 'json', 'hello');
    const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ Repository: 'hello', Tag: '1' });
    const d = await kiln(root, 'images', '--digests');
    expect(d.stdout.split('\n')[0]).toMatch(/DIGEST/);
    expect(d.stdout).toMatch(/sha256:[a-f0-9]{64}/);
    const t = await kiln(root, 'images', '--format', '{{.Repository}}:{{.Tag}}');
    expect(t.stdout.split('\n').sort()).toContain('hello:1');
    const ref = await kiln(root, 'images', '--filter', 'reference=hel*', '--format', '{{.Repository}}:{{.Tag}}');
    expect(ref.stdout).toBe('hello:1\n');
    const ref2 = await kiln(root, 'images', '-f', 'reference=*:1', '-f', 'dangling=false', '--format', '{{.Repository}}');
    expect(ref2.stdout).toBe('hello\n');
    expect((await kiln(root, 'images', '-f', 'dangling=true', '-q')).stdout).toBe('');
    expect((await kiln(root, 'images', '-f', 'label=x')).code).toBe(2);
  });

  it('shows history like docker history', async () => {
    const r = await kiln(root, 'history', 'hello:1');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(lines[1]).toMatch(/^[a-f0-9]{12}\s+.* ago\s+\d+(\.\d+)?kB\s+first import$/);
  });

  it('tags and removes like docker tag / rmi', async () => {
    expect((await kiln(root, 'tag', 'hello:1', 'localhost:5000/team/hello:v2')).code).toBe(0);
    const both = await kiln(root, 'image', 'inspect', '--format', '{{json .RepoTags}}', 'hello:1');
    expect(JSON.parse(both.stdout)).toEqual(['hello:1', 'localhost:5000/team/hello:v2']);
    const byId = await kiln(root, 'image', 'inspect', '--format', '{{.Id}}', 'hello:1');
    const id = byId.stdout.trim();
    const conflict = await kiln(root, 'rmi', id.slice(7, 19));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/must be forced/);
    const un = await kiln(root, 'rmi', 'hello:1');
    expect(un.stdout).toBe('Untagged: hello:1\n');
    const manifestDigest = (await kiln(root, 'image', 'inspect', '--format', '{{.Descriptor.digest}}', id)).stdout.trim();
    const s = await openStores(root);
    expect(await s.content.has(manifestDigest as never)).toBe(true);
    const del = await kiln(root, 'rmi', 'localhost:5000/team/hello:v2');
    expect(del.stdout).toBe(`Untagged: localhost:5000/team/hello:v2\nDeleted: ${id}\n`);
    // like docker rmi, the content only this image used is freed; other images keep theirs
    expect(await s.content.has(manifestDigest as never)).toBe(false);
    expect(await s.content.has(id as never)).toBe(false);
    expect((await kiln(root, 'image', 'inspect', '--format', '{{.Id}}', 'gz')).code).toBe(0);
    expect((await kiln(root, 'system', 'check')).code).toBe(0);
    const gone = await kiln(root, 'rmi', 'hello:1', 'nope');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/No such image: hello:1/);
    expect(gone.stderr).toMatch(/No such image: nope/);
  });

  it('rejects bad input with clear errors and stores nothing', async () => {
    const bad = [
      await makeTar([{ name: '../evil', body: 'x' }]),
      await makeTar([{ name: 'a/../../evil', body: 'x' }]),
      await makeTar([{ name: '/abs', body: 'x' }]),
      await makeTar([{ name: 'l', type: 'link', linkname: '../../etc/passwd' }]),
      Buffer.from('this is not a tar file at all, just text that goes on and on'.repeat(20)),
      rootfs.subarray(0, 700),
    ];
    const s = await openStores(root);
    const before: string[] = [];
    for await (const b of s.content.walk()) before.push(b.digest);
    for (const [i, b] of bad.entries()) {
      const f = path.join(dir, `bad${i}.tar`);
      await fs.writeFile(f, b);
      const r = await kiln(root, 'import', f, `bad:${i}`);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/LAYER_INVALID_TAR|escapes|absolute|not a valid tar|Unexpected end/);
    }
    const after: string[] = [];
    for await (const b of s.content.walk()) after.push(b.digest);
    expect(after).toEqual(before);
    const badChange = await kiln(root, 'import', path.join(dir, 'rootfs.tar'), 'x', '-c', 'RUN echo');
    expect(badChange.code).toBe(1);
    expect(badChange.stderr).toMatch(/--change "RUN echo": RUN is not supported/);
    const badName = await kiln(root, 'import', path.join(dir, 'rootfs.tar'), 'Bad');
    expect(badName.code).toBe(1);
    expect(badName.stderr).toMatch(/must be lowercase/);
  });
});
