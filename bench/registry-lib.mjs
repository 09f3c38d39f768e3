// Helpers for bench/registry.mjs: start Debian's docker-registry on 127.0.0.1, make a test image.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { promises as fs, createWriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startRegistry(bin = '/usr/bin/docker-registry') {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-bench-registry-'));
  const port = await freePort();
  const cfg = path.join(dir, 'config.yml');
  await fs.writeFile(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['serve', cfg], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((r) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
        res.resume();
        r(true);
      });
      req.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/**
 * Write `layers` uncompressed tar layers of `layerBytes` random bytes each into an OCI layout
 * at `dir`; returns the manifest descriptor and the blob files.
 */
export async function makeLayout(dir, layers, layerBytes) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = async (buf) => {
    const d = createHash('sha256').update(buf).digest('hex');
    await fs.writeFile(path.join(blobs, d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
  };
  const layerDescs = [];
  const diffIds = [];
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < layers; i++) {
    const tmp = path.join(dir, `layer${i}.tmp`);
    const hash = createHash('sha256');
    const out = createWriteStream(tmp);
    const write = (b) => {
      hash.update(b);
      return new Promise((r) => (out.write(b) ? r() : out.once('drain', r)));
    };
    await write(tarHeader(`data${i}.bin`, layerBytes));
    let left = layerBytes;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      await write(chunk.subarray(0, n));
      left -= n;
    }
    const pad = (512 - (layerBytes % 512)) % 512;
    await write(Buffer.alloc(pad + 1024));
    await new Promise((r) => out.end(r));
    const d = hash.digest('hex');
    const size = (await fs.stat(tmp)).size;
    await fs.rename(tmp, path.join(blobs, d));
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${d}`, size });
    diffIds.push(`sha256:${d}`);
  }
  const config = await put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } })),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layerDescs,
    }),
  );
  const m = await put(manifest);
  const mdesc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m };
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...mdesc, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  return { manifest: mdesc, blobs: [mdesc, config, ...layerDescs] };
}
