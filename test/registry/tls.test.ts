import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/index.js';
import { createRegistryClient, pullImage, pushImage } from '../../src/registry/index.js';
import { makeTlsCertificates, registryUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { opensslUnavailable } from '../helpers/token-server.js';
import { buildImage, MemoryImageNames } from './fixtures.js';

const reason = registryUnavailable() ?? opensslUnavailable();
if (reason) console.warn(`skipping registry TLS tests: ${reason}`);

describe.skipIf(!!reason)('HTTPS registry with a private CA in certs.d', () => {
  let reg: TestRegistry;
  let tmp: string;
  let ca: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-tls-'));
    const certs = await makeTlsCertificates(tmp);
    ca = certs.ca;
    reg = await startRegistry({ tls: { cert: certs.cert, key: certs.key } });
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('fails with REGISTRY_TLS (and no downgrade to HTTP) when the CA is unknown', async () => {
    const root = path.join(tmp, 'noca');
    const client = await createRegistryClient(reg.host, { root, credentials: null, certsDirs: [path.join(root, 'certs.d')] });
    await expect(client.ping()).rejects.toMatchObject({ code: 'REGISTRY_TLS', hint: expect.stringContaining('certs.d') });
    client.close();
  });

  it('pushes and pulls over HTTPS with $KILN_ROOT/certs.d/<host>/ca.crt', async () => {
    const root = path.join(tmp, 'withca');
    await fs.mkdir(path.join(root, 'certs.d', reg.host), { recursive: true });
    await fs.copyFile(ca, path.join(root, 'certs.d', reg.host, 'ca.crt'));
    const content = await LocalContentStore.open(root, { sync: false });
    const img = await buildImage(content, [5_000]);
    const images = new MemoryImageNames();
    await images.set(`${reg.host}/tls/img:1`, img.manifest);
    await pushImage(`${reg.host}/tls/img:1`, { root, content, images, certsDirs: [path.join(root, 'certs.d')] });

    const client = await createRegistryClient(reg.host, { root, credentials: null, certsDirs: [path.join(root, 'certs.d')] });
    expect(await client.transport.baseUrl()).toBe(`https://${reg.host}`);
    client.close();

    // Default certs.d lookup: $KILN_ROOT/certs.d (then /etc/docker/certs.d).
    const root2 = path.join(tmp, 'pull');
    await fs.mkdir(path.join(root2, 'certs.d', reg.host), { recursive: true });
    await fs.copyFile(ca, path.join(root2, 'certs.d', reg.host, 'ca.crt'));
    const pulled = await pullImage(`${reg.host}/tls/img:1`, { root: root2, images: new MemoryImageNames(), content: await LocalContentStore.open(root2, { sync: false }) });
    expect(pulled.manifest.digest).toBe(img.manifest.digest);
  });
});
