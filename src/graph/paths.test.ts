import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseChmod, parseGoDuration, parsePortSpec } from '../instructions/values.js';
import { canonicalJson, vertexDigest } from './marshal.js';
import { clean, normalizePath, normalizeWorkdir } from './paths.js';
import { formatPlatform, parsePlatform } from './platform.js';

const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('paths (Go path.Clean / BuildKit NormalizePath)', () => {
  it.each([
    ['/src', 'a', true, '/src/a'],
    ['/src', './', true, '/src/'],
    ['/src', 'a/', true, '/src/a/'],
    ['/src', 'a/.', true, '/src/a/'],
    ['/src', '../../etc/', true, '/etc/'],
    ['/src', '/abs//x/', true, '/abs/x/'],
    ['/', '../../x', false, '/x'],
    ['/', 'dir/*.go', false, '/dir/*.go'],
  ])('normalizePath(%j, %j, keepSlash=%j) = %j', (wd, p, keep, want) => {
    expect(normalizePath(wd, p, keep)).toBe(want);
  });

  it('resolves WORKDIR like BuildKit', () => {
    expect(normalizeWorkdir('', 'app')).toBe('/app');
    expect(normalizeWorkdir('/a', 'b/../c/')).toBe('/a/c');
    expect(normalizeWorkdir('/a', '/x/y/')).toBe('/x/y/');
    expect(clean('a//b/')).toBe('a/b');
  });
});

describe('values', () => {
  it('parses Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('250ms')).toBe(250e6);
    expect(parseGoDuration('0')).toBe(0);
    expect(() => parseGoDuration('10')).toThrow(/missing unit|invalid duration/);
    expect(() => parseGoDuration('5d')).toThrow(/unknown unit "d"/);
    expect([300e9, 3e9, 1.5e9, 5e5, 3600e9].map(formatGoDuration)).toEqual(['5m0s', '3s', '1.5s', '500µs', '1h0m0s']);
  });

  it('parses --chmod', () => {
    expect(parseChmod('755')).toEqual({ kind: 'octal', mode: 0o755 });
    expect(parseChmod('+x')).toEqual({ kind: 'symbolic', mode: '+x' });
    expect(parseChmod('u=rwX,go=rX')).toEqual({ kind: 'symbolic', mode: 'u=rwX,go=rX' });
    expect(() => parseChmod('17777')).toThrow(/between 0 and 07777/);
    expect(() => parseChmod('u+q')).toThrow();
  });

  it('parses EXPOSE specs', () => {
    expect(parsePortSpec('80')).toEqual(['80/tcp']);
    expect(parsePortSpec('53/UDP')).toEqual(['53/udp']);
    expect(parsePortSpec('127.0.0.1:8080:80/tcp')).toEqual(['80/tcp']);
    expect(parsePortSpec('7000-7002/sctp')).toEqual(['7000/sctp', '7001/sctp', '7002/sctp']);
    expect(() => parsePortSpec('80/http')).toThrow(/invalid proto/);
    expect(() => parsePortSpec('9-1')).toThrow(/invalid range/);
  });
});

describe('platforms', () => {
  it('normalises like containerd', () => {
    expect(formatPlatform(parsePlatform('linux/x86_64'))).toBe('linux/amd64');
    expect(formatPlatform(parsePlatform('linux/aarch64/v8'))).toBe('linux/arm64');
    expect(formatPlatform(parsePlatform('linux/arm'))).toBe('linux/arm/v7');
    expect(formatPlatform(parsePlatform('arm64'))).toBe('linux/arm64');
    expect(() => parsePlatform('linux//amd64')).toThrow();
  });
});

describe('canonical encoding', () => {
  it('sorts keys, drops undefined and is stable', () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: 'x' }], e: null })).toBe('{"a":[{"c":"x"}],"b":1,"e":null}');
    const op = { kind: 'merge', layers: [0, 1] } as const;
    expect(vertexDigest(op, ['sha256:a', 'sha256:b'])).toBe(vertexDigest({ layers: [0, 1], kind: 'merge' }, ['sha256:a', 'sha256:b']));
    expect(vertexDigest(op, ['sha256:a', 'sha256:b'])).not.toBe(vertexDigest(op, ['sha256:b', 'sha256:a']));
    // pinned: the encoding must not drift between versions
    expect(vertexDigest(op, [])).toBe('sha256:' + sha256Hex('{"inputs":[],"op":{"kind":"merge","layers":[0,1]}}'));
  });
});
