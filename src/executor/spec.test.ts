import { describe, expect, it } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
import { generateSpec, processSpec } from './spec.js';
import type { ProcessSpec } from './types.js';

const proc = (extra: Partial<ProcessSpec> = {}): ProcessSpec => ({ args: ['sh'], env: ['A=1'], cwd: '/work', user: { uid: 0, gid: 0 }, ...extra });
const gen = (extra: Partial<ProcessSpec> = {}, mounts = [] as Parameters<typeof generateSpec>[0]['mounts']) =>
  generateSpec({ spec: proc(extra), rootPath: '/r', cgroupsPath: 'kiln/x/ctr', mounts });

describe('generateSpec (Docker defaults)', () => {
  it('gives the 14 default capabilities to bounding/effective/permitted and none to inheritable/ambient', () => {
    const c = gen().process.capabilities;
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(new Set(c.bounding)).toEqual(new Set(DEFAULT_CAPABILITIES));
    expect(c.effective).toEqual(c.bounding);
    expect(c.permitted).toEqual(c.bounding);
    expect(c.inheritable).toEqual([]);
    expect(c.ambient).toEqual([]);
  });

  it('masks and write-protects the /proc and /sys paths, and allows only the default devices', () => {
    const s = gen();
    expect(s.linux.maskedPaths).toEqual([...MASKED_PATHS]);
    expect(s.linux.readonlyPaths).toEqual([...READONLY_PATHS]);
    expect(s.linux.resources.devices[0]).toEqual({ allow: false, access: 'rwm' });
    const allowed = s.linux.resources.devices.filter((d) => d.allow).map((d) => `${d.type} ${d.major}:${d.minor}`);
    expect(allowed.sort()).toEqual(['c 1:3', 'c 1:5', 'c 1:8', 'c 1:9', 'c 5:0', 'c 5:1']);
  });

  it('creates pid/ipc/uts/mount/network namespaces, and shares the network only for host', () => {
    expect(gen().linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(gen({ network: 'host' }).linux.namespaces.map((n) => n.type)).not.toContain('network');
    expect(() => gen({ network: 'bridge' as 'host' })).toThrow(/unsupported network/);
  });

  it('mounts /proc, /dev, /sys (read-only) first and lets a caller mount replace a default one', () => {
    const s = gen({}, [{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1g'] }, { destination: '/data/../vol', type: 'bind', source: '/host', options: ['rbind', 'ro'] }]);
    const dests = s.mounts.map((m) => m.destination);
    expect(dests.slice(0, 4)).toEqual(['/proc', '/dev', '/dev/pts', '/sys']);
    expect(s.mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(dests.filter((d) => d === '/dev/shm')).toHaveLength(1);
    expect(s.mounts.find((m) => m.destination === '/dev/shm')!.options).toEqual(['size=1g']);
    expect(dests.at(-1)).toBe('/vol');
  });

  it('turns resources into cgroup limits and --init into an annotation', () => {
    const s = gen({ resources: { memory: 64 << 20, pids: 100, cpus: 1.5 }, init: true });
    expect(s.linux.resources.memory).toEqual({ limit: 64 << 20 });
    expect(s.linux.resources.pids).toEqual({ limit: 100 });
    expect(s.linux.resources.cpu).toEqual({ period: 100000, quota: 150000 });
    expect(s.annotations).toEqual({ 'io.kiln.init': 'true' });
    expect(s.linux.cgroupsPath).toBe('kiln/x/ctr');
  });

  it('adds a default PATH only when the image gives none', () => {
    expect(gen().process.env[0]).toMatch(/^PATH=/);
    expect(gen({ env: ['PATH=/x'] }).process.env).toEqual(['PATH=/x']);
  });

  it('rejects relative or NUL working directories and mount targets, and out-of-range ids', () => {
    for (const cwd of ['work', '../x', '/a\0b']) expect(() => processSpec(proc({ cwd }))).toThrow(/absolute/);
    expect(() => gen({}, [{ destination: 'rel', type: 'tmpfs', source: 'tmpfs', options: [] }])).toThrow(/absolute/);
    for (const uid of [-1, 2 ** 32, 4294967295, 1.5]) {
      const err = (() => {
        try {
          processSpec(proc({ user: { uid, gid: 0 } }));
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(hasCode(err, 'RUNTIME_INVALID_ID')).toBe(true);
    }
    expect(() => processSpec(proc({ args: [] }))).toThrow(/no command/);
    expect(() => processSpec(proc({ capabilities: ['CAP_SYS_ADMIN; rm'] }))).toThrow(/invalid capability/);
  });
});
