import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { LocalContentStore } from '../../src/content/index.js';
import { pushImage } from '../../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { registryUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage, MemoryImageNames, type BuiltImage } from './fixtures.js';

const bin = path.join(__dirname, '..', '..', 'bin', 'kiln.js');
const reason = registryUnavailable() ?? (existsSync(path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js')) ? undefined : 'dist/ is not built (npm run build)');
if (reason) console.warn(`skipping kill -9 during pull test: ${reason}`);

async function kiln(...argv: string[]): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await main(argv, { stdout, stderr: stdout });
  return { code, out };
}

describe.skipIf(!!reason)('a pull killed with SIGKILL in the middle of a layer', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let tmp: string;
  let img: BuiltImage;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-crash-'));
    const src = await LocalContentStore.open(path.join(tmp, 'src'), { sync: false });
    img = await buildImage(src, [400_000, 10_000]);
    const images = new MemoryImageNames();
    await images.set(`${reg.host}/crash/img:v1`, img.manifest);
    await pushImage(`${reg.host}/crash/img:v1`, { root: path.join(tmp, 'src'), content: src, images });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('leaves no name, no partial blob, and a store that checks clean; the next pull completes', async () => {
    const root = path.join(tmp, 'root');
    proxy.rules = [{ path: new RegExp(`/blobs/${img.layers[0]!.digest}$`), fault: { kind: 'stall' }, times: 1 }];
    const child = spawn(process.execPath, [bin, '--root', root, 'pull', '-q', `${proxy.host}/crash/img:v1`], { stdio: 'ignore' });
    // Wait until the stalled layer is being ingested, then kill -9.
    const ingest = path.join(root, 'content', 'ingest');
    for (let i = 0; i < 400; i++) {
      const files = await fs.readdir(ingest).catch(() => []);
      if (files.length > 0 && proxy.log.some((e) => e.faulted)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(proxy.log.some((e) => e.faulted)).toBe(true);

    const check = await kiln('--root', root, 'system', 'check');
    expect(check.code, check.out).toBe(0);
    expect(await fs.readdir(ingest)).toEqual([]); // the dead writer's temp file was cleaned
    const content = await LocalContentStore.open(root);
    expect(await blobList(content)).not.toContain(img.layers[0]!.digest);
    const images = await kiln('--root', root, 'images', '-q');
    expect(images.out.trim()).toBe('');

    const again = await kiln('--root', root, 'pull', '-q', `${proxy.host}/crash/img:v1`);
    expect(again.code, again.out).toBe(0);
    expect(await blobList(content)).toContain(img.layers[0]!.digest);
  });
});
