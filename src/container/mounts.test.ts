import { describe, expect, it } from 'vitest';
import { parseMemory, parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from './mounts.js';

describe('-v / --mount / --tmpfs parsing (docker conventions)', () => {
  it('tells bind mounts, named and anonymous volumes apart', () => {
    expect(parseVolumeFlag('/host/dir:/data:ro')).toEqual({ type: 'bind', source: '/host/dir', target: '/data', readonly: true });
    expect(parseVolumeFlag('./rel:/data', '/work')).toMatchObject({ type: 'bind', source: '/work/rel' });
    expect(parseVolumeFlag('cache:/var/cache')).toEqual({ type: 'volume', name: 'cache', target: '/var/cache', readonly: false, anonymous: false });
    expect(parseVolumeFlag('/scratch/')).toEqual({ type: 'volume', name: '', target: '/scratch', readonly: false, anonymous: true });
  });

  it('rejects malformed specifications with the flag named', () => {
    expect(() => parseVolumeFlag('a:b:c:d')).toThrow(/invalid volume specification/);
    expect(() => parseVolumeFlag('vol:relative')).toThrow(/not an absolute path/);
    expect(() => parseVolumeFlag('/x:/')).toThrow(/can't be '\/'/);
    expect(() => parseVolumeFlag('/x:/y:bogus')).toThrow(/unknown option bogus/);
  });

  it('parses --mount fields and rejects unknown ones', () => {
    expect(parseMountFlag('type=bind,src=/h,dst=/c,readonly')).toEqual({ type: 'bind', source: '/h', target: '/c', readonly: true });
    expect(parseMountFlag('type=volume,source=vol,target=/v')).toMatchObject({ type: 'volume', name: 'vol', anonymous: false });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777')).toEqual({ type: 'tmpfs', target: '/t', options: ['size=64m', 'mode=1777'] });
    expect(() => parseMountFlag('type=bind,target=/c')).toThrow(/source is required/);
    expect(() => parseMountFlag('type=nfs,target=/c')).toThrow(/type must be/);
    expect(() => parseMountFlag('type=bind,src=/a,target=/c,wat=1')).toThrow(/unknown field wat/);
  });

  it('parses --tmpfs and memory sizes', () => {
    expect(parseTmpfsFlag('/run:size=1m,noexec')).toEqual({ type: 'tmpfs', target: '/run', options: ['size=1m', 'noexec'] });
    expect(() => parseTmpfsFlag('/run:evil=1')).toThrow(/unsupported option/);
    expect(parseMemory('--memory', '512m')).toBe(512 * 1024 * 1024);
    expect(parseMemory('-m', '1g')).toBe(1024 ** 3);
    expect(() => parseMemory('-m', '1k')).toThrow(/minimum memory/);
    expect(() => parseMemory('-m', 'lots')).toThrow(/"-m"/);
  });
});
