import { describe, expect, it } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { MediaType } from '../image/types.js';
import { parseWwwAuthenticate } from './auth.js';
import { allowsPlainHttp, isLoopbackRegistry } from './config.js';
import { checkDigest } from './digest.js';
import { parseManifest } from './manifest.js';
import { parsePlatform, selectManifest } from './platform.js';
import { formatReference, normaliseRegistryHost, parseRegistryReference } from './reference.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('digest grammar (SECURITY-NOTES E.29)', () => {
  it.each([
    'sha256:../../x',
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'A'.repeat(64)}`,
    `sha512:${'a'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    `sha256:${'a'.repeat(64)}/../x`,
    '',
  ])('rejects %j before any use', (d) => {
    expect(() => checkDigest(d)).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_DIGEST' }));
  });
  it('accepts a lowercase sha256', () => {
    expect(checkDigest(D('a'))).toBe(D('a'));
  });
  it('refuses manifests whose descriptors carry bad digests', () => {
    const m = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: 'sha256:../../etc', size: 2 }, layers: [] };
    expect(() => parseManifest(Buffer.from(JSON.stringify(m)), MediaType.OciManifest)).toThrow(/digest/);
  });
});

describe('WWW-Authenticate', () => {
  it('parses a Bearer challenge with quoted, escaped and comma-containing params', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="x\\"y"');
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push', error: 'x"y' },
    });
  });
  it('parses several challenges', () => {
    const cs = parseWwwAuthenticate('Basic realm="r1", Bearer realm="https://t/x",service=s');
    expect(cs.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(cs[1]!.params).toEqual({ realm: 'https://t/x', service: 's' });
  });
});

describe('references', () => {
  it('normalises like docker', () => {
    expect(formatReference(parseRegistryReference('bb'))).toBe('docker.io/library/bb:latest');
    expect(formatReference(parseRegistryReference('127.0.0.1:5000/a/b@' + D('b')))).toBe(`127.0.0.1:5000/a/b@${D('b')}`);
    expect(parseRegistryReference('localhost/x:1')).toEqual({ registry: 'localhost', repository: 'x', tag: '1' });
  });
  it('normalises login server names', () => {
    expect(normaliseRegistryHost('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseRegistryHost('http://127.0.0.1:5000/')).toBe('127.0.0.1:5000');
    expect(() => normaliseRegistryHost('bad host')).toThrow();
  });
});

describe('plain HTTP policy', () => {
  it('allows loopback only, plus configured insecure registries', () => {
    for (const h of ['localhost:5000', '127.0.0.1', '127.8.9.1:80', '[::1]:5000']) expect(isLoopbackRegistry(h)).toBe(true);
    for (const h of ['10.0.0.1:5000', 'registry.example', 'docker.io', '128.0.0.1']) expect(isLoopbackRegistry(h)).toBe(false);
    expect(allowsPlainHttp('10.0.0.1:5000', { insecureRegistries: [] })).toBe(false);
    expect(allowsPlainHttp('10.0.0.1:5000', { insecureRegistries: ['10.0.0.1:5000'] })).toBe(true);
    expect(allowsPlainHttp('reg.lan:5000', { insecureRegistries: ['reg.lan'] })).toBe(true);
  });
});

describe('manifests (SECURITY-NOTES E.28)', () => {
  const config = { mediaType: MediaType.OciConfig, digest: D('c'), size: 10 };
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [{ mediaType: MediaType.OciLayerGzip, digest: D('d'), size: 5 }] };
  const bytes = Buffer.from(JSON.stringify(manifest));
  it('accepts a manifest whose mediaType matches its header', () => {
    expect(parseManifest(bytes, MediaType.OciManifest).kind).toBe('manifest');
  });
  it('rejects the same bytes served as an index', () => {
    expect(() => parseManifest(bytes, MediaType.OciIndex)).toThrow(expect.objectContaining({ code: 'REGISTRY_MEDIATYPE_MISMATCH' }));
  });
  it('rejects a document with both manifests and layers', () => {
    const both = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [], manifests: [] }));
    expect(() => parseManifest(both, MediaType.OciManifest)).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_MANIFEST' }));
    expect(() => parseManifest(both, '')).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_MANIFEST' }));
  });
  it('rejects an index carrying layers and schema 1', () => {
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], layers: [] }));
    expect(() => parseManifest(idx, MediaType.OciIndex)).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_MANIFEST' }));
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }));
    expect(() => parseManifest(s1, 'application/vnd.docker.distribution.manifest.v1+prettyjws')).toThrow(/schema 1/);
  });
  it('takes the header type when the body has none, and infers from structure for application/json', () => {
    const noType = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [] }));
    expect(parseManifest(noType, MediaType.DockerManifest).mediaType).toBe(MediaType.DockerManifest);
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(idx, 'application/json').kind).toBe('index');
  });
});

describe('platforms', () => {
  const entry = (os: string, architecture: string, variant?: string, extra: Record<string, unknown> = {}) => ({
    mediaType: MediaType.OciManifest,
    digest: D(String.fromCharCode(97 + Math.floor(Math.random() * 6))),
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
    ...extra,
  });
  it('parses os/arch/variant with aliases', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(() => parsePlatform('linux//x')).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_PLATFORM' }));
  });
  it('selects by os, arch and (normalised) variant, skipping attestations', () => {
    const att = entry('unknown', 'unknown', undefined, { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
    const amd = entry('linux', 'amd64');
    const armv6 = entry('linux', 'arm', 'v6');
    const armv7 = entry('linux', 'arm', 'v7');
    const arm64 = entry('linux', 'arm64');
    const list = [att, amd, armv6, armv7, arm64];
    expect(selectManifest(list, parsePlatform('linux/amd64'))).toBe(amd);
    expect(selectManifest(list, parsePlatform('linux/arm'))).toBe(armv7);
    expect(selectManifest(list, parsePlatform('linux/arm/v6'))).toBe(armv6);
    expect(selectManifest(list, parsePlatform('linux/arm64/v8'))).toBe(arm64);
    expect(() => selectManifest(list, parsePlatform('linux/s390x'))).toThrow(
      expect.objectContaining({ code: 'REGISTRY_NO_PLATFORM', hint: expect.stringContaining('linux/arm64') }),
    );
    expect(hasCode(new Error('x'), 'REGISTRY_NO_PLATFORM')).toBe(false);
  });
});
