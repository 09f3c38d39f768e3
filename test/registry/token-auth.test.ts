import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/index.js';
import { createRegistryClient, pullImage, pushImage } from '../../src/registry/index.js';
import { registryUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { opensslUnavailable, startTokenServer, type TokenServer } from '../helpers/token-server.js';
import { blobList, buildImage, MemoryImageNames } from './fixtures.js';

const reason = registryUnavailable() ?? opensslUnavailable();
if (reason) console.warn(`skipping registry token-auth tests: ${reason}`);

describe.skipIf(!!reason)('Bearer token flow against docker-registry with token auth', () => {
  let reg: TestRegistry;
  let tokens: TokenServer;
  let tmp: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-token-'));
    tokens = await startTokenServer(tmp, { alice: 'tok-pass' });
    reg = await startRegistry({ auth: { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile } } });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pushes with credentials (token with push scope), pulls anonymously from a public repository', async () => {
    const srcRoot = path.join(tmp, 'src');
    const src = await LocalContentStore.open(srcRoot, { sync: false });
    const img = await buildImage(src, [40_000, 10_000]);
    const images = new MemoryImageNames();
    for (const repo of ['public/app', 'private/app']) await images.set(`${reg.host}/${repo}:1`, img.manifest);

    // Anonymous push is refused: the token carries no push right.
    await expect(pushImage(`${reg.host}/public/app:1`, { root: srcRoot, content: src, images, credentials: null })).rejects.toMatchObject({
      code: expect.stringMatching(/^REGISTRY_(UNAUTHORIZED|DENIED)$/),
    });

    const creds = { username: 'alice', password: 'tok-pass' };
    for (const repo of ['public/app', 'private/app']) await pushImage(`${reg.host}/${repo}:1`, { root: srcRoot, content: src, images, credentials: creds });
    expect(tokens.log.some((e) => e.user === 'alice' && e.scopes.some((s) => /^repository:public\/app:pull,push$/.test(s)))).toBe(true);

    const root = path.join(tmp, 'anon');
    const content = await LocalContentStore.open(root, { sync: false });
    const pulled = await pullImage(`${reg.host}/public/app:1`, { root, content, images: new MemoryImageNames(), credentials: null });
    expect(pulled.manifest.digest).toBe(img.manifest.digest);

    const before = await blobList(content);
    await expect(pullImage(`${reg.host}/private/app:1`, { root, content, images: new MemoryImageNames(), credentials: null })).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
    });
    expect(await blobList(content)).toEqual(before);

    const withCreds = await pullImage(`${reg.host}/private/app:1`, { root, content, images: new MemoryImageNames(), credentials: creds });
    expect(withCreds.manifest.digest).toBe(img.manifest.digest);
  });

  it('login check: good credentials pass, a wrong password is rejected by the token server', async () => {
    const ok = await createRegistryClient(reg.host, { root: tmp, credentials: { username: 'alice', password: 'tok-pass' } });
    await ok.ping();
    ok.close();
    const bad = await createRegistryClient(reg.host, { root: tmp, credentials: { username: 'alice', password: 'nope' } });
    await expect(bad.ping()).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    bad.close();
  });
});
