import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { LocalContentStore } from '../../src/content/index.js';
import { hasCode } from '../../src/diagnostics/errors.js';
import { MediaType } from '../../src/image/types.js';
import { pullImage, pushImage, type PullOptions } from '../../src/registry/index.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { registryUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage, MemoryImageNames, type BuiltImage } from './fixtures.js';

async function kilnCheck(root: string): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await main(['--root', root, 'system', 'check'], { stdout, stderr });
  return { code, out };
}

const reason = registryUnavailable();
if (reason) console.warn(`skipping registry fault tests: ${reason}`);

describe.skipIf(!!reason)('a fault-injecting proxy in front of docker-registry', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let tmp: string;
  let img: BuiltImage;
  let n = 0;
  const repo = 'faults/img';
  const layerPath = (i: number): RegExp => new RegExp(`/blobs/${img.layers[i]!.digest}$`);
  const manifestPath = /\/manifests\/v1$/;

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-faults-'));
    const src = await LocalContentStore.open(path.join(tmp, 'src'), { sync: false });
    img = await buildImage(src, [300_000, 200_000], { tag: 'faults' });
    const images = new MemoryImageNames();
    await images.set(`${reg.host}/${repo}:v1`, img.manifest);
    await pushImage(`${reg.host}/${repo}:v1`, { root: path.join(tmp, 'src'), content: src, images });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    proxy.rules = [];
    proxy.log = [];
  });

  /** Pull through the proxy into a fresh root. */
  async function pull(rules: FaultRule[], extra: Partial<PullOptions> = {}) {
    proxy.rules = rules;
    const root = path.join(tmp, `root${n++}`);
    const content = await LocalContentStore.open(root, { sync: false });
    const images = new MemoryImageNames();
    const name = `${proxy.host}/${repo}:v1`;
    let error: unknown;
    let result;
    try {
      result = await pullImage(name, { root, content, images, backoffMs: 5, ...extra });
    } catch (err) {
      error = err;
    }
    const ingest = await fs.readdir(path.join(root, 'content', 'ingest')).catch(() => []);
    // `kiln system check` re-hashes every blob and looks for strays: it must find nothing wrong.
    const check = await kilnCheck(root);
    const blobs = await blobList(content);
    // Everything that did land in the store is intact.
    for (const d of blobs) await content.readBuffer(d as never);
    return { error, result, blobs, ingest, named: images.map.has(name), content, check };
  }

  /** A rejected pull: the code is right, nothing is named, the faulty blob and no temp file are left. */
  function expectRejected(r: Awaited<ReturnType<typeof pull>>, code: string, faultyDigest?: string): void {
    expect(r.error, `expected ${code}`).toBeDefined();
    expect(hasCode(r.error, code), `got ${(r.error as Error)?.message}`).toBe(true);
    expect(r.named).toBe(false);
    expect(r.ingest).toEqual([]);
    expect(r.check.code, r.check.out).toBe(0);
    expect(r.check.out).toMatch(/0 corrupt, 0 missing, 0 invalid, 0 stray/);
    if (faultyDigest) expect(r.blobs).not.toContain(faultyDigest);
  }

  it('retries 503 on the manifest and on a blob, then succeeds', async () => {
    const r = await pull([
      { path: manifestPath, fault: { kind: 'status', status: 503 }, times: 2 },
      { path: layerPath(0), fault: { kind: 'status', status: 503 }, times: 1 },
    ]);
    expect(r.error).toBeUndefined();
    expect(r.named).toBe(true);
    expect(proxy.log.filter((e) => manifestPath.test(e.path))).toHaveLength(3);
    expect(r.blobs).toContain(img.layers[0]!.digest);
  });

  it('fetches a manifest again when its body was cut off', async () => {
    const r = await pull([{ path: manifestPath, fault: { kind: 'truncate' }, times: 1 }]);
    expect(r.error).toBeUndefined();
    expect(r.named).toBe(true);
    expect(proxy.log.filter((e) => manifestPath.test(e.path))).toHaveLength(2);
  });

  it('gives up on a registry that keeps answering 503, storing nothing', async () => {
    const r = await pull([{ path: manifestPath, fault: { kind: 'status', status: 503 } }], { attempts: 3 });
    expectRejected(r, 'REGISTRY_HTTP');
    expect(r.blobs).toEqual([]);
    expect(proxy.log.filter((e) => manifestPath.test(e.path))).toHaveLength(3);
  });

  it('resumes a blob download cut in the middle with a Range request', async () => {
    const r = await pull([{ path: layerPath(0), fault: { kind: 'truncate' }, times: 1 }]);
    expect(r.error).toBeUndefined();
    expect(r.named).toBe(true);
    const gets = proxy.log.filter((e) => layerPath(0).test(e.path));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(gets[1]!.range!)![0])).toBeGreaterThan(0);
  });

  it('rejects a blob that is always truncated', async () => {
    const r = await pull([{ path: layerPath(1), fault: { kind: 'truncate' } }]);
    expectRejected(r, 'REGISTRY_TRUNCATED', img.layers[1]!.digest);
  });

  it('rejects wrong bytes for a digest', async () => {
    const r = await pull([{ path: layerPath(0), fault: { kind: 'wrong-bytes' } }]);
    expectRejected(r, 'REGISTRY_DIGEST_MISMATCH', img.layers[0]!.digest);
  });

  it('rejects a Content-Length that disagrees with the descriptor (larger and smaller)', async () => {
    const more = await pull([{ path: layerPath(0), fault: { kind: 'lying-length', delta: 1000 } }]);
    expectRejected(more, 'REGISTRY_SIZE_MISMATCH', img.layers[0]!.digest);
    const less = await pull([{ path: layerPath(1), fault: { kind: 'lying-length', delta: -1000 } }]);
    expectRejected(less, 'REGISTRY_SIZE_MISMATCH', img.layers[1]!.digest);
  });

  it('stops reading an endless body after the descriptor size', async () => {
    const r = await pull([{ path: layerPath(0), fault: { kind: 'endless' } }]);
    expectRejected(r, 'REGISTRY_TOO_LARGE', img.layers[0]!.digest);
  });

  it('times out a body that stalls', async () => {
    const r = await pull([{ path: layerPath(1), fault: { kind: 'stall' } }], { timeoutMs: 300, attempts: 2 });
    expectRejected(r, 'REGISTRY_TIMEOUT', img.layers[1]!.digest);
  });

  it('rejects a manifest whose mediaType disagrees with the Content-Type header', async () => {
    const r = await pull([{ path: manifestPath, fault: { kind: 'content-type', value: MediaType.DockerManifest } }]);
    expectRejected(r, 'REGISTRY_MEDIATYPE_MISMATCH');
    expect(r.blobs).toEqual([]);
  });

  it('rejects a manifest above the 4 MiB limit and one with both manifests and layers', async () => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, pad: 'x'.repeat(5 * 1024 * 1024) }));
    const big = await pull([{ path: manifestPath, fault: { kind: 'body', body: huge } }]);
    expectRejected(big, 'REGISTRY_TOO_LARGE');
    const ambiguous = Buffer.concat([
      Buffer.from(JSON.stringify({ schemaVersion: 2, config: img.config, layers: img.layers, manifests: [] })),
    ]);
    const amb = await pull([{ path: manifestPath, fault: { kind: 'body', body: ambiguous } }]);
    expectRejected(amb, 'REGISTRY_BAD_MANIFEST');
    expect(amb.blobs).toEqual([]);
  });

  it('retries an upload the registry failed with 503, and a manifest PUT cut off', async () => {
    const root = path.join(tmp, `push${n++}`);
    const content = await LocalContentStore.open(root, { sync: false });
    const pushed = await buildImage(content, [50_000], { tag: 'push-retry' });
    const images = new MemoryImageNames();
    const name = `${proxy.host}/faults/pushed:v1`;
    await images.set(name, pushed.manifest);
    proxy.rules = [
      { method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 503 }, times: 1 },
      { method: 'PUT', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 502 }, times: 1 },
    ];
    const res = await pushImage(name, { root, content, images, backoffMs: 5 });
    expect(res.digest).toBe(pushed.manifest.digest);
    expect(proxy.log.filter((e) => e.faulted)).toHaveLength(2);
    // The registry has the image now: pulling it back (no faults) gives the same manifest.
    proxy.rules = [];
    const back = await pullImage(name, { root: path.join(tmp, `root${n++}`), images: new MemoryImageNames() });
    expect(back.manifest.digest).toBe(pushed.manifest.digest);
  });

  it('rejects a manifest fetched by digest whose bytes do not match', async () => {
    proxy.rules = [{ path: /\/manifests\/sha256:/, fault: { kind: 'wrong-bytes' } }];
    const root = path.join(tmp, `root${n++}`);
    const content = await LocalContentStore.open(root, { sync: false });
    await expect(
      pullImage(`${proxy.host}/${repo}@${img.manifest.digest}`, { root, content, images: new MemoryImageNames(), backoffMs: 5 }),
    ).rejects.toSatisfy((e: unknown) => hasCode(e, 'REGISTRY_DIGEST_MISMATCH') || hasCode(e, 'REGISTRY_BAD_MANIFEST'));
    expect(await blobList(content)).toEqual([]);
  });
});
