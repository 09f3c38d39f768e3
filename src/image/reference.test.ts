import { describe, expect, it } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { isDigest, parseDigest, sha256Digest, shortId, digestToIntegrity, integrityToDigest } from './digest.js';
import { familiarString, isReference, parseReference, parseRepository } from './reference.js';

const HEX = 'a'.repeat(64);
const D = `sha256:${HEX}`;

describe('parseReference (docker ParseNormalizedNamed + TagNameOnly)', () => {
  const cases: Array<[string, string, string]> = [
    // input, fully qualified, familiar
    ['bb', 'docker.io/library/bb:latest', 'bb:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/x', 'docker.io/user/x:latest', 'user/x:latest'],
    ['docker.io/user/x:v1', 'docker.io/user/x:v1', 'user/x:v1'],
    ['docker.io/bb', 'docker.io/library/bb:latest', 'bb:latest'],
    ['index.docker.io/bb', 'docker.io/library/bb:latest', 'bb:latest'],
    ['docker.io/library/bb:t', 'docker.io/library/bb:t', 'bb:t'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['localhost:5000/a/b/c:tag', 'localhost:5000/a/b/c:tag', 'localhost:5000/a/b/c:tag'],
    ['127.0.0.1:5000/x:1', '127.0.0.1:5000/x:1', '127.0.0.1:5000/x:1'],
    ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000/x:latest'],
    ['quay.io/org/app', 'quay.io/org/app:latest', 'quay.io/org/app:latest'],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest', 'Registry.Example.com/app:latest'],
    ['a/b/c', 'docker.io/a/b/c:latest', 'a/b/c:latest'],
    ['bb:Latest_1.x-2', 'docker.io/library/bb:Latest_1.x-2', 'bb:Latest_1.x-2'],
    ['my_app-x.y__z', 'docker.io/library/my_app-x.y__z:latest', 'my_app-x.y__z:latest'],
    [`bb@${D}`, `docker.io/library/bb@${D}`, `bb@${D}`],
    [`bb:1@${D}`, `docker.io/library/bb:1@${D}`, `bb:1@${D}`],
    [`localhost:5000/x@${D}`, `localhost:5000/x@${D}`, `localhost:5000/x@${D}`],
  ];
  for (const [input, full, familiar] of cases) {
    it(`${input} -> ${full}`, () => {
      const ref = parseReference(input);
      expect(ref.toString()).toBe(full);
      expect(ref.familiar()).toBe(familiar);
      expect(`${ref.domain}/${ref.path}`).toBe(ref.name);
    });
  }

  it('exposes parts', () => {
    const ref = parseReference(`localhost:5000/team/app:1.0@${D}`);
    expect(ref.domain).toBe('localhost:5000');
    expect(ref.path).toBe('team/app');
    expect(ref.tag).toBe('1.0');
    expect(ref.digest).toBe(D);
    expect(ref.name).toBe('localhost:5000/team/app');
    expect(ref.familiarName()).toBe('localhost:5000/team/app');
  });

  it('does not add latest when asked not to, or when a digest is present', () => {
    expect(parseReference('bb', { defaultTag: false }).tag).toBeUndefined();
    expect(parseReference(`bb@${D}`).tag).toBeUndefined();
    expect(parseRepository('user/x').toString()).toBe('docker.io/user/x');
    expect(() => parseRepository('user/x:1')).toThrow();
  });

  const bad: Array<[string, RegExp]> = [
    ['', /at least one component/],
    ['BusyBox', /must be lowercase/],
    ['user/App', /must be lowercase/],
    ['docker.io/Library/bb', /must be lowercase/],
    [HEX, /64-byte hexadecimal/],
    ['bb:', /invalid reference format/],
    ['bb::x', /invalid reference format/],
    [':tag', /invalid reference format/],
    ['-bb', /invalid reference format/],
    ['bb-', /invalid reference format/],
    ['a//b', /invalid reference format/],
    ['a/b/', /invalid reference format/],
    ['bb:-tag', /invalid reference format/],
    [`bb:${'t'.repeat(129)}`, /invalid reference format/],
    ['bb@sha256:abc', /invalid reference format/],
    [`bb@sha256:${'A'.repeat(64)}`, /invalid reference format/],
    [`bb@md5:${'a'.repeat(32)}`, /invalid reference format/],
    ['bb name', /invalid reference format/],
    ['../etc/passwd', /invalid reference format/],
    ['a/../b', /invalid reference format/],
    [`${'a'.repeat(256)}`, /not be more than 255/],
  ];
  for (const [input, re] of bad) {
    it(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`, () => {
      let err: unknown;
      try {
        parseReference(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(re);
      expect(hasCode(err, 'IMAGE_INVALID_REFERENCE')).toBe(true);
      expect(isReference(input)).toBe(false);
    });
  }

  it('rejects very long input quickly (no regex backtracking on untrusted names)', () => {
    for (const s of ['a.'.repeat(100_000), `${'a-'.repeat(100_000)}!`, 'a/'.repeat(100_000)]) {
      expect(() => parseReference(s)).toThrow(/too long/);
    }
  });

  it('familiarString shortens qualified names', () => {
    expect(familiarString('docker.io/library/bb:latest')).toBe('bb:latest');
    expect(familiarString('docker.io/user/x')).toBe('user/x');
    expect(familiarString('localhost:5000/x:1')).toBe('localhost:5000/x:1');
  });
});

describe('digest helpers', () => {
  it('accepts only sha256 with 64 lowercase hex', () => {
    expect(parseDigest(D)).toBe(D);
    for (const s of [HEX, `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${HEX}`, `sha256:${HEX}\n`, `sha256:../${HEX}`]) {
      expect(isDigest(s)).toBe(false);
      expect(() => parseDigest(s)).toThrow(/invalid digest/);
    }
  });
  it('hashes and converts', () => {
    const d = sha256Digest('hello');
    expect(d).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(shortId(d)).toBe('2cf24dba5fb0');
    expect(integrityToDigest(digestToIntegrity(d))).toBe(d);
  });
});

describe('parseReference properties', async () => {
  const fc = await import('fast-check');
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/).filter((s) => s.length > 0 && s.length < 30);
  const domain = fc.constantFrom('', 'docker.io/', 'localhost/', 'localhost:5000/', 'quay.io/', 'registry.example.com:443/', '127.0.0.1:5000/');
  const tag = fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined });
  const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
  const digest = fc.option(hex.map((h) => `sha256:${h}`), { nil: undefined });
  it('normalising is idempotent and the familiar form parses back to the same reference', () => {
    fc.assert(
      fc.property(domain, fc.array(component, { minLength: 1, maxLength: 3 }), tag, digest, (d, parts, t, dg) => {
        const input = `${d}${parts.join('/')}${t !== undefined ? `:${t}` : ''}${dg !== undefined ? `@${dg}` : ''}`;
        if (/^[a-f0-9]{64}$/.test(input)) return;
        // without a domain, a first component with a dot is taken for a domain (docker does the same)
        if (d === '' && parts.length > 1 && parts[0]!.includes('.')) return;
        let ref;
        try {
          ref = parseReference(input);
        } catch {
          // only lengths over 255 may fail for this generator
          expect(input.length).toBeGreaterThan(200);
          return;
        }
        expect(parseReference(ref.toString()).toString()).toBe(ref.toString());
        // docker's familiar form is ambiguous for docker.io paths whose first component has a dot: same here
        if (!(ref.domain === 'docker.io' && ref.path.split('/')[0]!.includes('.'))) {
          expect(parseReference(ref.familiar()).toString()).toBe(ref.toString());
        }
        expect(ref.tag !== undefined || ref.digest !== undefined).toBe(true); // :latest is added unless a digest is given
      }),
      { numRuns: 500 },
    );
  });
  it('never throws anything but a KilnError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          parseReference(s);
        } catch (err) {
          expect(hasCode(err, 'IMAGE_INVALID_REFERENCE')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
