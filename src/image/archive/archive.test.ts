import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { sha256Digest } from '../digest.js';
import { busyboxRootfs, Capture, gzip, makeTar, rawPaxHeader } from '../testing.js';

async function kiln(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(['--root', root, ...args], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function has(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

async function listTar(file: string): Promise<Map<string, Buffer>> {
  const { default: tar } = await import('tar-stream');
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, s, next) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => {
        out.set(h.name, Buffer.concat(parts));
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(await fs.readFile(file));
  await done;
  return out;
}

describe('kiln save / load', () => {
  let dir: string;
  let root: string;
  let id: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-archive-'));
    root = path.join(dir, 'root');
    const rootfs = (await busyboxRootfs()) ?? (await makeTar([{ name: 'bin/sh', body: 'not busybox', mode: 0o755 }]));
    await fs.writeFile(path.join(dir, 'rootfs.tar'), rootfs);
    const r = await kiln(root, 'import', path.join(dir, 'rootfs.tar'), 'bb:1', '-c', 'CMD ["sh"]');
    expect(r.code, r.stderr).toBe(0);
    id = r.stdout.trim();
    expect((await kiln(root, 'tag', 'bb:1', 'localhost:5000/team/bb:2')).code).toBe(0);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes docker-archive manifest.json and an OCI layout sharing blobs', async () => {
    const out = path.join(dir, 'bb.tar');
    const r = await kiln(root, 'save', 'bb:1', 'localhost:5000/team/bb:2', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const files = await listTar(out);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    expect(manifest).toHaveLength(1);
    expect(manifest[0]!.RepoTags.sort()).toEqual(['bb:1', 'localhost:5000/team/bb:2']);
    expect(manifest[0]!.Config).toBe(`blobs/sha256/${id.slice(7)}`);
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.annotations['io.containerd.image.name']).sort()).toEqual([
      'docker.io/library/bb:1',
      'localhost:5000/team/bb:2',
    ]);
    for (const [name, data] of files) {
      if (name.startsWith('blobs/sha256/') && data.length > 0) expect(sha256Digest(data)).toBe(`sha256:${name.slice(13)}`);
    }
    for (const l of manifest[0]!.Layers) expect(files.has(l)).toBe(true);
  });

  it('reports an unwritable output and leaves nothing behind', async () => {
    const r = await kiln(root, 'save', 'bb:1', '-o', path.join(dir, 'no', 'such', 'dir.tar'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write .*no such directory/);
    const missing = await kiln(root, 'save', 'bb:1', 'nope:1', '-o', path.join(dir, 'partial.tar'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No such image: nope:1/);
    expect((await fs.readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('round-trips through save and load into a fresh store, keeping IDs and names', async () => {
    const out = path.join(dir, 'rt.tar');
    expect((await kiln(root, 'save', 'bb:1', '-o', out)).code).toBe(0);
    const root2 = path.join(dir, 'root2');
    const r = await kiln(root2, 'load', '-i', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Loaded image: bb:1\n');
    const ins = await kiln(root2, 'image', 'inspect', '--format', '{{.Id}} {{json .Config.Cmd}}', 'bb:1');
    expect(ins.stdout).toBe(`${id} ["sh"]\n`);
    // saved by ID: no tags; loads as an untagged image
    const byId = path.join(dir, 'byid.tar');
    expect((await kiln(root, 'save', id.slice(7, 19), '-o', byId)).code).toBe(0);
    const root3 = path.join(dir, 'root3');
    expect((await kiln(root3, 'load', '-i', byId)).stdout).toBe(`Loaded image ID: ${id}\n`);
    expect((await kiln(root3, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}')).stdout).toBe(`<none>:<none> ${id.slice(7, 19)}\n`);
  });

  it('loads the old docker save format (<id>/layer.tar, <id>.json) with symlinked layers', async () => {
    const layer = await makeTar([{ name: 'hello.txt', body: 'hello\n' }]);
    const diffID = sha256Digest(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2020-01-01T00:00:00Z', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [diffID, diffID] } }));
    const cfgHex = sha256Digest(config).slice(7);
    const archive = await makeTar([
      { name: 'aaa/', type: 'directory' },
      { name: 'aaa/layer.tar', body: layer },
      { name: 'aaa/VERSION', body: '1.0' },
      { name: 'bbb/layer.tar', type: 'symlink', linkname: '../aaa/layer.tar' },
      { name: `${cfgHex}.json`, body: config },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['old:v1'], Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }]) },
      { name: 'repositories', body: JSON.stringify({ old: { v1: 'bbb' } }) },
    ]);
    const f = path.join(dir, 'old.tar');
    await fs.writeFile(f, archive);
    const root4 = path.join(dir, 'root4');
    const r = await kiln(root4, 'load', '-i', f);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Loaded image: old:v1\n');
    const ins = await kiln(root4, 'image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}} {{.Size}}', 'old:v1');
    expect(ins.stdout).toBe(`sha256:${cfgHex} ${JSON.stringify([diffID, diffID])} ${layer.length * 2}\n`);
  });

  it('loads a Docker 25 containerd-store style archive: a multi-platform index with only this platform present', async () => {
    const { sha256Digest: h } = await import('../digest.js');
    const layer = await makeTar([{ name: 'etc/os-release', body: 'ID=kiln\n' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [h(layer)] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: h(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: h(layer), size: layer.length }],
    }));
    const absent = `sha256:${'9'.repeat(64)}`;
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: h(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: absent, size: 500, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    }));
    const blob = (b: Buffer) => ({ name: `blobs/sha256/${h(b).slice(7)}`, body: b });
    const archive = await makeTar([
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
      blob(layer), blob(config), blob(manifest), blob(index),
      { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest: h(index), size: index.length, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1', 'org.opencontainers.image.ref.name': '1' } },
      ] }) },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `blobs/sha256/${h(config).slice(7)}`, RepoTags: ['multi:1'], Layers: [`blobs/sha256/${h(layer).slice(7)}`] }]) },
      { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    ]);
    const f = path.join(dir, 'd25.tar');
    await fs.writeFile(f, archive);
    const root7 = path.join(dir, 'root7');
    await fs.writeFile(path.join(dir, 'other.tar'), await makeTar([{ name: 'x', body: 'x' }]));
    const prev = await kiln(root7, 'import', path.join(dir, 'other.tar'), 'multi:1');
    const r = await kiln(root7, 'load', '-i', f);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`The image multi:1 already exists, renaming the old one with ID ${prev.stdout.trim()} to empty string\nLoaded image: multi:1\n`);
    const ins = await kiln(root7, 'image', 'inspect', '--format', '{{.Id}} {{.Descriptor.mediaType}} {{json .Config.Env}}', 'multi:1');
    expect(ins.stdout).toBe(`${h(config)} application/vnd.oci.image.index.v1+json ["PATH=/bin"]\n`);
    expect((await kiln(root7, 'images', '-f', 'dangling=true', '-q')).stdout).toBe(`${prev.stdout.trim().slice(7, 19)}\n`);
    expect((await kiln(root7, 'system', 'check')).code).toBe(0);
    // and it saves again as a plain single-platform image
    const again = path.join(dir, 'd25-again.tar');
    expect((await kiln(root7, 'save', 'multi:1', '-o', again)).code).toBe(0);
    expect((await kiln(path.join(dir, 'root8'), 'load', '-i', again)).stdout).toBe('Loaded image: multi:1\n');
  });

  it('rejects archives whose layers do not match the diff_ids, and stores no name', async () => {
    const layer = await makeTar([{ name: 'a', body: 'a' }]);
    const other = await makeTar([{ name: 'b', body: 'b' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } }));
    const bad = await makeTar([
      { name: 'c.json', body: config },
      { name: 'l.tar', body: gzip(other) },
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:1'], Layers: ['l.tar'] }]) },
    ]);
    const f = path.join(dir, 'bad.tar');
    await fs.writeFile(f, bad);
    const root5 = path.join(dir, 'root5');
    const r = await kiln(root5, 'load', '-i', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/IMAGE_LOAD_DIFFID_MISMATCH|has diff_id/);
    expect((await kiln(root5, 'images', '-q')).stdout).toBe('');
  });

  it('never follows archive paths outside the archive', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest('x')] } }));
    const evil = await makeTar([
      { name: '../../c.json', body: config },
      { name: 'manifest.json', body: JSON.stringify([{ Config: '../../../../etc/passwd', RepoTags: ['evil:1'], Layers: ['/etc/shadow'] }]) },
    ]);
    const f = path.join(dir, 'evil.tar');
    await fs.writeFile(f, evil);
    const r = await kiln(path.join(dir, 'root6'), 'load', '-i', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing from the archive/);
    // a 5 MiB pax header is refused (tar-stream caps long headers at 4 MiB) instead of being buffered
    const paxSize = 5 << 20;
    const hdr = rawPaxHeader(paxSize, 'PaxHeaders/x');
    const bombFile = path.join(dir, 'paxbomb.tar');
    await fs.writeFile(bombFile, Buffer.concat([hdr, Buffer.alloc(paxSize, 'a'), Buffer.alloc(1024)]));
    const bomb = await kiln(path.join(dir, 'root6'), 'load', '-i', bombFile);
    expect(bomb.code).toBe(1);
    expect(bomb.stderr).toMatch(/not a valid image archive: Header exceeds max size/);
    const junk = path.join(dir, 'junk.tar');
    await fs.writeFile(junk, Buffer.alloc(5000, 'x'));
    const j = await kiln(path.join(dir, 'root6'), 'load', '-i', junk);
    expect(j.code).toBe(1);
    expect(j.stderr).toMatch(/not a valid image archive|not an image archive/);
  });
});

const tools = has('skopeo') && has('umoci');
const noBusybox = (await fs.access('/bin/busybox').then(() => '', () => 'busybox-static is not installed'));
const interopReason = !tools ? 'skopeo or umoci is not installed' : noBusybox;
if (interopReason) console.warn(`skipping skopeo/umoci interop tests: ${interopReason}`);

describe.skipIf(!!interopReason)('interop with skopeo and umoci', () => {
  let dir: string;
  let root: string;
  let id: string;
  let saved: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-interop-'));
    root = path.join(dir, 'root');
    await fs.writeFile(path.join(dir, 'rootfs.tar'), (await busyboxRootfs())!);
    const r = await kiln(root, 'import', path.join(dir, 'rootfs.tar'), 'busybox:kiln', '-c', 'CMD ["sh"]', '-c', 'ENV K=v');
    id = r.stdout.trim();
    saved = path.join(dir, 'saved.tar');
    expect((await kiln(root, 'save', 'busybox:kiln', '-o', saved)).code).toBe(0);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('skopeo inspects the saved archive as docker-archive and oci-archive', () => {
    const d = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${saved}`], { encoding: 'utf8' })) as { Env: string[]; Layers: string[] };
    expect(d.Env).toEqual(['K=v']);
    expect(d.Layers).toHaveLength(1);
    const o = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${saved}`], { encoding: 'utf8' })) as { Env: string[] };
    expect(o.Env).toEqual(['K=v']);
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `docker-archive:${saved}`], { encoding: 'utf8' })) as { config: { Cmd: string[] } };
    expect(cfg.config.Cmd).toEqual(['sh']);
  });

  it('skopeo copies it to an OCI dir that umoci unpacks into a working rootfs', async () => {
    const oci = path.join(dir, 'oci');
    execFileSync('skopeo', ['copy', '-q', `docker-archive:${saved}`, `oci:${oci}:bb`]);
    const bundle = path.join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${oci}:bb`, bundle], { cwd: dir });
    const sh = await fs.readlink(path.join(bundle, 'rootfs', 'bin', 'sh'));
    expect(sh).toBe('busybox');
    const out = execFileSync(path.join(bundle, 'rootfs', 'bin', 'busybox'), ['echo', 'from-umoci'], { encoding: 'utf8' });
    expect(out).toBe('from-umoci\n');
    const stat = execFileSync('umoci', ['stat', '--image', `${oci}:bb`, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(stat).history.length).toBe(1);
    // umoci reads kiln's archive directly as an OCI layout too
    const layout = path.join(dir, 'layout');
    await fs.mkdir(layout);
    execFileSync('tar', ['-xf', saved, '-C', layout]);
    const direct = execFileSync('umoci', ['stat', '--image', `${layout}:kiln`, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(JSON.parse(direct).history.length).toBe(1);
  });

  it('loads what skopeo writes as docker-archive and oci-archive', async () => {
    const da = path.join(dir, 'skopeo-docker.tar');
    const oa = path.join(dir, 'skopeo-oci.tar');
    execFileSync('skopeo', ['copy', '-q', `docker-archive:${saved}`, `docker-archive:${da}:sk/docker:1`]);
    execFileSync('skopeo', ['copy', '-q', `docker-archive:${saved}`, `oci-archive:${oa}:sk/oci:1`]);
    const root2 = path.join(dir, 'root2');
    const r1 = await kiln(root2, 'load', '-i', da);
    expect(r1.stdout).toBe('Loaded image: sk/docker:1\n');
    const r2 = await kiln(root2, 'load', '-i', oa);
    expect(r2.stdout).toBe('Loaded image: sk/oci:1\n');
    // docker-archive keeps the config bytes, so the image ID is the same
    const d = await kiln(root2, 'image', 'inspect', '--format', '{{.Id}} {{json .Config.Env}}', 'sk/docker:1');
    expect(d.stdout).toBe(`${id} ["K=v"]\n`);
    // skopeo re-serialises the config when converting to OCI: same content, new ID
    const src = await kiln(root, 'image', 'inspect', '--format', '{{json .RootFS.Layers}} {{json .Config.Cmd}} {{json .Config.Env}}', 'busybox:kiln');
    const o = await kiln(root2, 'image', 'inspect', '--format', '{{json .RootFS.Layers}} {{json .Config.Cmd}} {{json .Config.Env}}', 'sk/oci:1');
    expect(o.stdout).toBe(src.stdout);
    // and what kiln loaded from skopeo saves again and reloads
    const again = path.join(dir, 'again.tar');
    expect((await kiln(root2, 'save', 'sk/oci:1', '-o', again)).code).toBe(0);
    expect(JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${again}`], { encoding: 'utf8' })).Env).toEqual(['K=v']);
  });
});
