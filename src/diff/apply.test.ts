import { createHash } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { applyTar } from './apply.js';
import { BLOCK, encodeHeader, type TarHeader } from './tar-header.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipping device-node and ownership apply tests: not running as root');
const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-apply-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

type E = Partial<TarHeader> & { name: string; body?: string | Buffer };
const dir = (name: string, mode = 0o755): E => ({ name, type: 'dir', mode });
const file = (name: string, body: string | Buffer = '', mode = 0o644): E => ({ name, type: 'file', mode, body });
const symlink = (target: string, name: string): E => ({ name, type: 'symlink', linkname: target });
const link = (target: string, name: string): E => ({ name, type: 'hardlink', linkname: target });

/** A tar of `entries` (names written exactly as given, including `../` and `/abs`). */
function tar(entries: E[], { end = true } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const h: TarHeader = { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, ...e, size: e.type === 'file' || e.type === undefined ? body.length : 0 } as TarHeader;
    parts.push(encodeHeader(h));
    if (body.length) parts.push(body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function* chunks(b: Buffer, size = 7000): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** Hash of a tree: names, types, modes, owners, link targets, contents. */
async function fingerprint(d: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string) => {
    for (const n of (await fs.readdir(path.join(d, rel))).sort()) {
      const p = path.join(d, rel, n);
      const st = await fs.lstat(p);
      h.update(`${rel}/${n} ${st.mode} ${st.uid} ${st.gid} ${st.ino}\n`);
      if (st.isSymbolicLink()) h.update(await fs.readlink(p));
      else if (st.isFile()) h.update(await fs.readFile(p));
      else if (st.isDirectory()) await walk(path.join(rel, n));
    }
  };
  await walk('');
  return h.digest('hex');
}

let n = 0;
let root = '';
let sentinel = '';
let sentinelPrint = '';
beforeEach(async () => {
  const t = path.join(base, String(++n));
  root = path.join(t, 'root');
  sentinel = path.join(t, 'etc'); // S: the host tree next to the root that nothing may touch
  await fs.mkdir(root, { recursive: true });
  await fs.mkdir(sentinel);
  await fs.writeFile(path.join(sentinel, 'passwd'), 'host secret', { mode: 0o644 });
  await fs.writeFile(path.join(sentinel, 'unbroken'), 'host', { mode: 0o644 });
  await fs.mkdir(path.join(sentinel, 'victim'));
  await fs.writeFile(path.join(sentinel, 'victim', 'hello'), 'host');
  sentinelPrint = await fingerprint(path.dirname(sentinel) + '/etc');
});

const apply = (entries: E[] | Buffer) => applyTar(chunks(Buffer.isBuffer(entries) ? entries : tar(entries)), root);
const read = (p: string) => fs.readFile(path.join(root, p), 'utf8');
async function sameInode(a: string, b: string) {
  const [x, y] = await Promise.all([fs.stat(path.join(root, a)), fs.stat(path.join(root, b))]);
  expect(x.ino).toBe(y.ino);
}
async function sentinelUntouched() {
  expect(await fingerprint(sentinel)).toBe(sentinelPrint);
}

describe('breakouts (containerd archive TestBreakouts, ported): every write lands inside the root', () => {
  // ABS is the absolute host path of S: the most dangerous target if a symlink were followed on the host.
  const ABS = () => sentinel;
  const cases: { name: string; entries: () => E[]; check: () => Promise<void> }[] = [
    {
      name: 'SymlinkAbsolute',
      entries: () => [dir('etc'), symlink('/etc', 'localetc'), file('/localetc/unbroken', 'unbroken')],
      check: async () => expect(await read('etc/unbroken')).toBe('unbroken'),
    },
    {
      name: 'SymlinkAbsoluteToHostPath',
      entries: () => [symlink(ABS(), 'localetc'), file('/localetc/unbroken', 'unbroken')],
      check: async () => expect(await read(`${ABS()}/unbroken`)).toBe('unbroken'),
    },
    {
      name: 'SymlinkUpAndOut',
      entries: () => [dir('etc'), dir('dummy'), symlink('/dummy/../etc', 'localetc'), file('/localetc/unbroken', 'unbroken')],
      check: async () => expect(await read('etc/unbroken')).toBe('unbroken'),
    },
    {
      name: 'SymlinkRelativeUpAndOut',
      entries: () => [symlink('../etc', 'localetc'), file('localetc/unbroken', 'unbroken')],
      check: async () => expect(await read('etc/unbroken')).toBe('unbroken'),
    },
    {
      name: 'SymlinkMultipleAbsolute',
      entries: () => [dir('etc'), dir('dummy'), symlink('/etc', '/dummy/etc'), symlink('/dummy/etc', 'localetc'), file('/dummy/etc/unbroken', 'unbroken')],
      check: async () => expect(await read('etc/unbroken')).toBe('unbroken'),
    },
    {
      name: 'SymlinkMultipleRelative',
      entries: () => [dir('etc'), dir('dummy'), symlink('/etc', '/dummy/etc'), symlink('./dummy/etc', 'localetc'), file('/dummy/etc/unbroken', 'unbroken')],
      check: async () => expect(await read('etc/unbroken')).toBe('unbroken'),
    },
    {
      name: 'SymlinkEmptyFile',
      entries: () => [dir('etc'), file('etc/emptied', 'notempty'), symlink('/etc', 'localetc'), file('/localetc/emptied', '')],
      check: async () => expect(await read('etc/emptied')).toBe(''),
    },
    {
      name: 'HardlinkRelative',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), dir('breakouts'), symlink('../../etc', 'breakouts/d1'), link('/breakouts/d1/passwd', 'breakouts/mypasswd')],
      check: () => sameInode('breakouts/mypasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkDownAndOut',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), dir('breakouts'), dir('downandout'), symlink('../downandout/../../etc', 'breakouts/d1'), link('/breakouts/d1/passwd', 'breakouts/mypasswd')],
      check: () => sameInode('breakouts/mypasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkAbsolute',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('/etc', 'localetc'), link('/localetc/passwd', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkRelativeLong',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('../../../../../../../etc', 'localetc'), link('/localetc/passwd', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkRelativeUpAndOut',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('upandout/../../../etc', 'localetc'), link('/localetc/passwd', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkDirectRelative',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), link('../../../../../etc/passwd', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkDirectAbsolute',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), link('/etc/passwd', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkSymlinkRelative',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('../../../../../etc/passwd', 'passwdlink'), link('/passwdlink', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkSymlinkAbsolute',
      entries: () => [dir('etc', 0o770), file('/etc/passwd', 'inside'), symlink('/etc/passwd', 'passwdlink'), link('/passwdlink', 'localpasswd')],
      check: () => sameInode('localpasswd', 'etc/passwd'),
    },
    {
      name: 'HardlinkThenRegularFileAtSamePath',
      entries: () => [file('etc/passwd', 'inside'), link('etc/passwd', 'x'), file('x', 'overwritten')],
      check: async () => {
        expect(await read('etc/passwd')).toBe('inside');
        expect(await read('x')).toBe('overwritten');
      },
    },
    {
      name: 'DirThenSymlinkThenFile (node-tar CVE-2021-32803)',
      entries: () => [dir('d'), symlink(ABS(), 'd'), file('d/unbroken', 'unbroken')],
      check: async () => expect(await read(`${ABS()}/unbroken`)).toBe('unbroken'),
    },
    {
      name: 'DotDotNames',
      entries: () => [file('../unbroken', 'a'), file('/unbroken2', 'b'), file('////unbroken3', 'c'), file('a/../../unbroken4', 'd'), file('./../unbroken5', 'e'), file('C:../x', 'f'), file('..\\..\\x', 'g')],
      check: async () => {
        expect(await read('unbroken')).toBe('a');
        expect(await read('unbroken2')).toBe('b');
        expect(await read('unbroken3')).toBe('c');
        expect(await read('unbroken4')).toBe('d');
        expect(await read('unbroken5')).toBe('e');
        expect(await read('C:../x')).toBe('f');
        expect(await read('..\\..\\x')).toBe('g');
      },
    },
    {
      name: 'SymlinkTargetsAreKeptAsWritten',
      entries: () => [symlink('/usr/bin/python3', 'python'), symlink('../../../../etc/shadow', 'rel')],
      check: async () => {
        expect(await fs.readlink(path.join(root, 'python'))).toBe('/usr/bin/python3');
        expect(await fs.readlink(path.join(root, 'rel'))).toBe('../../../../etc/shadow');
      },
    },
    {
      name: 'WhiteoutThroughSymlinkedParent',
      entries: () => [symlink(ABS(), 'etc'), file('etc/.wh.passwd'), file('etc/.wh.victim')],
      check: async () => undefined,
    },
    {
      name: 'OpaqueThroughSymlinkedParent',
      entries: () => [symlink(ABS(), 'etc'), file('etc/.wh..wh..opq')],
      check: async () => undefined,
    },
    {
      name: 'SymlinkChmodDoesNotFollow (CVE-2021-32760)',
      entries: () => [symlink(`${ABS()}/passwd`, 'p'), { name: 'p', type: 'symlink', linkname: `${ABS()}/passwd`, mode: 0o4777 }],
      check: async () => expect((await fs.lstat(path.join(root, 'p'))).isSymbolicLink()).toBe(true),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await apply(c.entries());
      await c.check();
      await sentinelUntouched();
    });
  }

  it('across layers: layer 1 plants etc -> S, layer 2 writes, whites out and hardlinks through it', async () => {
    await apply([symlink(ABS(), 'etc'), symlink('../etc', 'up')]);
    await apply([file('etc/passwd', 'in root'), file('etc/.wh.victim'), file('etc/.wh.unbroken'), file('etc/.wh..wh..opq'), file('up/x', 'y'), file('secret', 's'), link('etc/passwd', 'l')]);
    await sentinelUntouched();
    expect(await read(`${ABS()}/passwd`)).toBe('in root');
    expect(await read(`${ABS()}/x`)).toBe('y'); // up -> ../etc -> (in root) etc -> ABS
    await sameInode('l', `${ABS()}/passwd`);
  });

  it('a symlink planted between the checks and the open (node-tar race test) is not followed', async () => {
    // big files are opened through fs.promises.open, small ones through openSync: race both
    const realOpen = fs.open.bind(fs);
    const spy = vi.spyOn(fs, 'open').mockImplementation((async (p: string, ...rest: unknown[]) => {
      if (typeof p === 'string' && p.endsWith('/racy')) await fs.symlink(path.join(sentinel, 'passwd'), p).catch(() => undefined);
      return (realOpen as (...a: unknown[]) => Promise<unknown>)(p, ...rest);
    }) as typeof fs.open);
    const cjsFs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
    const realOpenSync = cjsFs.openSync;
    cjsFs.openSync = ((p: string, ...rest: unknown[]) => {
      if (typeof p === 'string' && p.endsWith('/racy-small')) {
        try {
          cjsFs.symlinkSync(path.join(sentinel, 'passwd'), p);
        } catch {
          /* already there */
        }
      }
      return (realOpenSync as (...a: unknown[]) => number)(p, ...rest);
    }) as typeof cjsFs.openSync;
    syncBuiltinESMExports();
    try {
      await expect(apply([file('racy', Buffer.alloc(3 << 20, 0x41))])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_APPLY_FAILED'));
      await expect(apply([file('racy-small', 'pwned')])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_APPLY_FAILED'));
    } finally {
      spy.mockRestore();
      cjsFs.openSync = realOpenSync;
      syncBuiltinESMExports();
    }
    await sentinelUntouched();
  });

  it('a symlink loop (etc -> ../etc, in root: itself) fails with LAYER_SYMLINK_LOOP', async () => {
    await expect(apply([symlink('../etc', 'etc'), file('etc/.wh..wh..opq')])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_SYMLINK_LOOP'));
    await sentinelUntouched();
  });

  it('a hardlink to a missing target fails clearly and creates nothing outside', async () => {
    await expect(apply([link('../etc/passwd-missing', 'x')])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_HARDLINK_TARGET_MISSING'));
    await sentinelUntouched();
  });

  it('names with NUL bytes are rejected', async () => {
    const t = tar([file('okname', 'x')]);
    t.write('ok\u0000ame', 0, 'latin1'); // corrupt the name, then fix the checksum
    t.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += t[i]!;
    t.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
    // a NUL inside the ustar name field ends the name (C string), so the entry is just "ok"
    await apply(t);
    expect(await read('ok')).toBe('x');
  });
});

describe('whiteouts (image-spec layer.md)', () => {
  it('removes lower files and directories; a whiteout for a path written in the same layer keeps it', async () => {
    await apply([dir('a'), file('a/f', 'lower'), file('a/g', 'lower'), dir('d'), file('d/x', 'lower')]);
    await apply([file('a/.wh.f'), file('d2/new', 'this layer'), file('d2/.wh.new'), file('.wh.d')]);
    expect(await fs.readdir(path.join(root, 'a'))).toEqual(['g']);
    expect(await read('d2/new')).toBe('this layer');
    await expect(fs.lstat(path.join(root, 'd'))).rejects.toThrow();
  });

  it('an opaque marker after its siblings still hides only the lower contents', async () => {
    await apply([dir('o'), file('o/lower1', 'l'), dir('o/sub'), file('o/sub/lower2', 'l')]);
    await apply([dir('o'), file('o/new', 'n'), file('o/sub/new2', 'n'), file('o/.wh..wh..opq')]);
    expect((await fs.readdir(path.join(root, 'o'))).sort()).toEqual(['new', 'sub']);
    expect(await fs.readdir(path.join(root, 'o', 'sub'))).toEqual(['new2']);
  });

  it('a whiteout naming "..", "." or nothing is an error', async () => {
    await expect(apply([file('etc/.wh...')])).resolves.toBeDefined(); // parent missing: nothing to hide
    await apply([dir('etc')]);
    for (const bad of ['etc/.wh...', 'etc/.wh..', 'etc/.wh.']) {
      await expect(apply([file(bad)])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_WHITEOUT'));
    }
    await sentinelUntouched();
  });
});

describe('entry types and metadata', () => {
  it('keeps modes, setuid bits, owners (root), times, long names (pax) and xattrs', async () => {
    const long = 'l'.repeat(150) + '/' + 'n'.repeat(200);
    const xattrs = new Map([['user.k', Buffer.from('v')], ...(isRoot ? [['security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')] as [string, Buffer]] : [])]);
    await apply([
      { ...file('bin/su', 'x', 0o4755), uid: 1234, gid: 5678 },
      { ...dir('tmp', 0o1777) },
      file(long, 'long'),
      { ...file('cap', 'c', 0o755), xattrs },
      { ...file('t', 't'), mtime: 1_234_567_890 },
    ]);
    const su = await fs.lstat(path.join(root, 'bin/su'));
    expect(su.mode & 0o7777).toBe(0o4755);
    if (isRoot) expect([su.uid, su.gid]).toEqual([1234, 5678]);
    expect((await fs.lstat(path.join(root, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(await read(long)).toBe('long');
    expect((await fs.lstat(path.join(root, 't'))).mtimeMs).toBe(1_234_567_890_000);
    const { getAttributeSync } = await import('@napi-rs/xattr');
    expect(getAttributeSync(path.join(root, 'cap'), 'user.k')?.toString()).toBe('v');
    if (isRoot) expect(getAttributeSync(path.join(root, 'cap'), 'security.capability')?.toString('hex')).toBe(xattrs.get('security.capability')!.toString('hex'));
  });

  it('overlayfs control xattrs in a layer are dropped', async () => {
    await apply([{ ...dir('d'), xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')], ['trusted.overlay.redirect', Buffer.from('/etc')], ['user.overlay.opaque', Buffer.from('y')]]) }]);
    const { listAttributesSync } = await import('@napi-rs/xattr');
    expect(listAttributesSync(path.join(root, 'd')).filter((x) => x.includes('overlay'))).toEqual([]);
  });

  it.skipIf(!isRoot)('creates device nodes and fifos as root; without root devices are skipped and reported', async () => {
    const entries: E[] = [
      { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 0 },
      { name: 'fifo', type: 'fifo', mode: 0o600 },
    ];
    const r = await apply(entries);
    expect(r.skipped).toEqual([]);
    const st = await fs.lstat(path.join(root, 'dev/null'));
    expect(st.isCharacterDevice() && st.rdev === 0x103).toBe(true);
    expect((await fs.lstat(path.join(root, 'dev/sda'))).isBlockDevice()).toBe(true);
    expect((await fs.lstat(path.join(root, 'fifo'))).isFIFO()).toBe(true);
    const root2 = path.join(path.dirname(root), 'root2');
    await fs.mkdir(root2);
    const r2 = await applyTar(chunks(tar(entries)), root2, { sameOwner: false });
    expect(r2.skipped).toEqual(['dev/null', 'dev/sda']);
  });

  it('replaces a lower directory by a file and a file by a directory', async () => {
    await apply([dir('a'), file('a/x', '1'), file('b', 'file')]);
    await apply([file('a', 'now a file'), dir('b'), file('b/y', '2')]);
    expect(await read('a')).toBe('now a file');
    expect(await read('b/y')).toBe('2');
  });
});

describe('limits and malformed archives fail with LAYER_* codes', () => {
  it('too many entries', async () => {
    const t = tar(Array.from({ length: 50 }, (_, i) => file(`f${i}`)));
    await expect(applyTar(chunks(t), root, { limits: { maxEntries: 10 } })).rejects.toSatisfy((e) => hasCode(e, 'LAYER_TOO_MANY_ENTRIES'));
  });

  it('a path deeper than the limit (100,000 components) is rejected quickly', async () => {
    const deep = Array.from({ length: 100_000 }, () => 'a').join('/');
    const t0 = Date.now();
    await expect(apply([file(deep, 'x')])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_PATH_TOO_DEEP'));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await fs.readdir(root)).toEqual([]);
  });

  it('a 2 MiB pax path and a 10 MiB GNU long name exceed the header limit', async () => {
    await expect(apply([file('x'.repeat(2 << 20), 'x')])).rejects.toSatisfy((e) => hasCode(e, 'LAYER_HEADER_TOO_LARGE'));
    const gnu = Buffer.alloc(512);
    gnu.write('././@LongLink', 0);
    gnu.write('0000644\u0000', 100);
    gnu.write('0000000\u0000', 108);
    gnu.write('0000000\u0000', 116);
    gnu.write((10 << 20).toString(8).padStart(11, '0') + '\u0000', 124);
    gnu.write('00000000000\u0000', 136);
    gnu.write('L', 156);
    gnu.write('ustar  \u0000', 257, 'latin1');
    gnu.fill(0x20, 148, 156);
    let s = 0;
    for (let i = 0; i < 512; i++) s += gnu[i]!;
    gnu.write(s.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
    await expect(apply(Buffer.concat([gnu, Buffer.alloc(1024)]))).rejects.toSatisfy((e) => hasCode(e, 'LAYER_HEADER_TOO_LARGE'));
  });

  it('decompressed size: a small gzip bomb trips the limit', async () => {
    const bomb = zlib.gzipSync(Buffer.concat([tar([file('big', Buffer.alloc(8 << 20))], { end: true })]), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(applyTar(chunks(bomb), root, { limits: { maxTotalSize: 1 << 20 } })).rejects.toSatisfy((e) => hasCode(e, 'LAYER_TOO_LARGE'));
  });

  it('bad checksum, negative base-256 size, truncated body, garbage', async () => {
    const t = tar([file('a', 'hello')]);
    const badSum = Buffer.from(t);
    badSum[0] = 0x62;
    await expect(apply(badSum)).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_TAR'));
    const neg = Buffer.from(t);
    neg.fill(0xff, 124, 136);
    neg.fill(0x20, 148, 156);
    let s = 0;
    for (let i = 0; i < 512; i++) s += neg[i]!;
    neg.write(s.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
    await expect(apply(neg)).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_TAR'));
    await expect(apply(t.subarray(0, 514))).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_TAR'));
    await expect(apply(Buffer.from('this is not a tar archive at all'.repeat(40)))).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_TAR'));
    await expect(apply(Buffer.from([0x42, 0x5a, 0x68, 0x39, 0, 0]))).rejects.toSatisfy((e) => hasCode(e, 'LAYER_UNSUPPORTED_COMPRESSION'));
  });

  it('corrupt gzip and corrupt zstd fail with LAYER_INVALID_COMPRESSION', async () => {
    const gz = zlib.gzipSync(tar([file('a', 'x'.repeat(100_000))]));
    const broken = Buffer.from(gz);
    broken.fill(0x55, 20, 60);
    await expect(apply(broken)).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_COMPRESSION') || hasCode(e, 'LAYER_INVALID_TAR'));
    await expect(apply(gz.subarray(0, gz.length - 30))).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_COMPRESSION') || hasCode(e, 'LAYER_INVALID_TAR'));
    const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64, 0x77)]);
    await expect(apply(zstd)).rejects.toSatisfy((e) => hasCode(e, 'LAYER_INVALID_COMPRESSION') || hasCode(e, 'LAYER_UNSUPPORTED_COMPRESSION') || hasCode(e, 'LAYER_INVALID_TAR'));
  });

  it('a wrong expected diffID is reported', async () => {
    const t = tar([file('a', 'x')]);
    const good = `sha256:${createHash('sha256').update(t).digest('hex')}`;
    const r = await applyTar(chunks(zlib.gzipSync(t)), root, { expectedDiffID: good as never });
    expect(r).toMatchObject({ diffID: good, compression: 'gzip', entries: 1 });
    await expect(applyTar(chunks(t), path.join(root, 'a-dir-not-used'), { expectedDiffID: ('sha256:' + '0'.repeat(64)) as never })).rejects.toThrow();
  });
});
