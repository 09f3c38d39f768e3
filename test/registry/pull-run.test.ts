import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { registryUnavailable, skopeoUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';

function probe(): string | undefined {
  const r = registryUnavailable() ?? skopeoUnavailable();
  if (r) return r;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'kiln run needs root';
  if (!existsSync('/bin/busybox')) return '/bin/busybox is not installed (Debian package busybox-static)';
  return undefined;
}
const reason = probe();
if (reason) console.warn(`skipping pull-then-run test: ${reason}`);

const kiln = (...argv: string[]) => runCli(argv);

describe.skipIf(!!reason)('skopeo copy into the registry, kiln pull, kiln run', () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-run-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('runs a command in the pulled busybox image', async () => {
    // A one-layer busybox image as an OCI layout, made with tar (not by kiln).
    const rootfs = path.join(tmp, 'rootfs');
    await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
    await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
    await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
    await fs.symlink('busybox', path.join(rootfs, 'bin', 'sh'));
    await fs.symlink('busybox', path.join(rootfs, 'bin', 'echo'));
    const tarBytes = execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
    const layout = path.join(tmp, 'layout');
    await fs.mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    const put = async (b: Buffer) => {
      const hex = createHash('sha256').update(b).digest('hex');
      await fs.writeFile(path.join(layout, 'blobs', 'sha256', hex), b);
      return { digest: `sha256:${hex}`, size: b.length };
    };
    const diffId = `sha256:${createHash('sha256').update(tarBytes).digest('hex')}`;
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(gzipSync(tarBytes))) };
    const config = {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      ...(await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } })))),
    };
    const manifest = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...(await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] })))),
    };
    await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await fs.writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/tools/bb:v1`], { stdio: 'pipe' });

    const root = path.join(tmp, 'root');
    const pull = await kiln('--root', root, 'pull', '-q', `${reg.host}/tools/bb:v1`);
    expect(pull.stderr).toBe('');
    expect(pull.stdout).toBe(`${reg.host}/tools/bb:v1\n`);
    const run = await kiln('--root', root, 'run', '--rm', `${reg.host}/tools/bb:v1`, 'echo', 'hello from a pulled image');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('hello from a pulled image\n');
    expect(run.code).toBe(0);
  });
});
