/**
 * copyUpParents on hand-made layer folders. Whiteouts (character devices 0/0) and trusted.*
 * xattrs need root: without it those cases skip with a printed reason.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getAttributeSync, setAttributeSync } from '../../util/xattr.js';
import { copyUpParents, overlayStack, type OverlayStack } from './upper-copy.js';

const rootReason = process.getuid?.() === 0 ? null : 'needs root (whiteout devices, trusted.* xattrs, chown)';
if (rootReason) console.warn(`upper-copy.test.ts: some cases skipped: ${rootReason}`);

let base = '';
let stack: OverlayStack;
const top = () => stack.lowers[0]!;
const bottom = () => stack.lowers[1]!;
const upperNames = () => readdirSync(stack.upper);
const attr = (p: string, n: string): Buffer | null => {
  try {
    return getAttributeSync(p, n);
  } catch {
    return null; // not set
  }
};

beforeEach(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'kiln-upper-copy-'));
  for (const d of ['upper', 'l1', 'l0']) mkdirSync(path.join(base, d));
  stack = { upper: path.join(base, 'upper'), lowers: [path.join(base, 'l1'), path.join(base, 'l0')] };
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('overlayStack', () => {
  it('reads upper and lower dirs from one overlay mount, and nothing else', () => {
    expect(overlayStack([{ type: 'overlay', source: 'overlay', options: ['workdir=/s/1/work', 'upperdir=/s/1/fs', 'lowerdir=/s/3/fs:/s/2/fs', 'index=off'] }])).toEqual({ upper: '/s/1/fs', lowers: ['/s/3/fs', '/s/2/fs'] });
    expect(overlayStack([{ type: 'bind', source: '/s/1/fs', options: ['rbind', 'rw'] }])).toBeNull();
    expect(overlayStack([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] }])).toBeNull(); // a read-only view
    expect(overlayStack([{ type: 'overlay', source: 'overlay', options: ['upperdir=/u', 'lowerdir=1/fs:2/fs'] }])).toBeNull(); // compacted, relative
  });
});

describe('copyUpParents', () => {
  it('copies up the directories on the way as overlayfs would: from the topmost layer holding each', () => {
    mkdirSync(path.join(bottom(), 'opt/x/y'), { recursive: true });
    mkdirSync(path.join(top(), 'opt/x'), { recursive: true }); // opt and opt/x from l1, opt/x/y only in l0
    chmodSync(path.join(top(), 'opt/x'), 0o750);
    chmodSync(path.join(bottom(), 'opt/x/y'), 0o2775);
    utimesSync(path.join(top(), 'opt/x'), 1000, 2000);
    utimesSync(path.join(bottom(), 'opt/x/y'), 3000, 4000);
    expect(copyUpParents(stack, '/opt/x/y/a', 'a')).toBe(true);
    const st = (p: string) => lstatSync(path.join(stack.upper, p));
    expect(st('opt/x').mode & 0o7777).toBe(0o750);
    expect(st('opt/x').mtimeMs).toBe(2_000_000);
    expect(st('opt/x/y').mode & 0o7777).toBe(0o2775);
    expect(st('opt/x/y').mtimeMs).toBe(4_000_000);
    expect(readdirSync(path.join(stack.upper, 'opt/x/y'))).toEqual([]); // the file itself is copySpec's job
  });

  it.skipIf(!!rootReason)('keeps owners and xattrs of copied-up directories, not overlayfs internals', () => {
    mkdirSync(path.join(top(), 'd'));
    chownSync(path.join(top(), 'd'), 12, 34);
    setAttributeSync(path.join(top(), 'd'), 'user.kiln-test', Buffer.from('v'));
    setAttributeSync(path.join(top(), 'd'), 'trusted.overlay.origin', Buffer.from('x'));
    expect(copyUpParents(stack, '/d/f', 'f')).toBe(true);
    const d = path.join(stack.upper, 'd');
    expect([lstatSync(d).uid, lstatSync(d).gid]).toEqual([12, 34]);
    expect(attr(d, 'user.kiln-test')?.toString()).toBe('v');
    expect(attr(d, 'trusted.overlay.origin')).toBeNull();
  });

  it('into an existing directory (trailing slash or not) and to new directories copySpec will make', () => {
    mkdirSync(path.join(top(), 'o'));
    chmodSync(path.join(top(), 'o'), 0o1777);
    expect(copyUpParents(stack, '/o', 'b')).toBe(true); // an existing dir: the file goes in as /o/b
    expect(lstatSync(path.join(stack.upper, 'o')).mode & 0o7777).toBe(0o1777);
    rmSync(path.join(stack.upper, 'o'), { recursive: true });
    expect(copyUpParents(stack, '/new/deep/', 'c')).toBe(true);
    expect(upperNames()).toEqual([]);
    expect(copyUpParents(stack, '/c', 'c')).toBe(true);
    expect(upperNames()).toEqual([]);
  });

  it('answers false and changes nothing when the copy needs the mounted overlay', () => {
    mkdirSync(path.join(top(), 'dir/sub'), { recursive: true });
    writeFileSync(path.join(bottom(), 'existing'), 'x');
    mkdirSync(path.join(bottom(), 'real'));
    symlinkSync('/real', path.join(top(), 'link'));
    writeFileSync(path.join(top(), 'file'), 'x');
    mkdirSync(path.join(bottom(), 'dir/sub/t'), { recursive: true });
    writeFileSync(path.join(bottom(), 'dir/sub/t/x'), 'x');
    expect(copyUpParents(stack, '/existing', 'existing')).toBe(false); // overwrites a lower file
    expect(copyUpParents(stack, '/link/f', 'f')).toBe(false); // a symlink on the way
    expect(copyUpParents(stack, '/file/f', 'f')).toBe(false); // a file on the way
    expect(copyUpParents(stack, '/dir/sub/t', 'x')).toBe(false); // into a dir that has the name
    expect(copyUpParents(stack, '/dir/sub/t/', 'x')).toBe(false);
    expect(upperNames()).toEqual([]);
    expect(copyUpParents(stack, '/dir/sub/t', 'y')).toBe(true); // ...a new name there is fine
    rmSync(path.join(stack.upper, 'dir'), { recursive: true });
    expect(copyUpParents(stack, '/', 'x')).toBe(true); // the root needs no copy-up
    expect(upperNames()).toEqual([]);
  });

  it.skipIf(!!rootReason)('answers false for whiteouts and opaque directories, in any layer on the way', () => {
    mkdirSync(path.join(bottom(), 'gone/sub'), { recursive: true });
    execFileSync('mknod', [path.join(top(), 'gone'), 'c', '0', '0']); // l1 deleted /gone
    expect(copyUpParents(stack, '/gone/sub/f', 'f')).toBe(false);
    expect(copyUpParents(stack, '/gone', 'gone')).toBe(false); // creating over a whiteout
    mkdirSync(path.join(top(), 'opq'));
    setAttributeSync(path.join(top(), 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
    mkdirSync(path.join(bottom(), 'opq/hidden'), { recursive: true });
    expect(copyUpParents(stack, '/opq/hidden/f', 'f')).toBe(false);
    expect(copyUpParents(stack, '/opq/f', 'f')).toBe(false);
    expect(upperNames()).toEqual([]);
  });
});
