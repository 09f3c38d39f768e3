import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../content/local.js';
import { hasCode } from '../diagnostics/errors.js';
import { applyChange, splitWords } from './changes.js';
import { sha256Digest } from './digest.js';
import { DEFAULT_TAR_LIMITS, importLayer } from './import.js';
import { gzip, makeTar, rawPaxHeader } from './testing.js';
import type { ContainerConfig } from './types.js';


describe('importLayer', () => {
  let dir: string;
  let store: LocalContentStore;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-import-'));
    store = await LocalContentStore.open(dir);
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('computes the diffID of plain and gzip input and stores a gzip blob that inflates to the tar', async () => {
    const tar = await makeTar([{ name: 'a/b.txt', body: 'x'.repeat(100_000) }, { name: 'a/l', type: 'symlink', linkname: '/etc/abs/ok' }]);
    for (const input of [tar, gzip(tar)]) {
      const r = await importLayer(store, Readable.from([input]));
      expect(r.diffID).toBe(sha256Digest(tar));
      expect(r.size).toBe(tar.length);
      expect(r.entries).toBe(2);
      const { gunzipSync } = await import('node:zlib');
      expect(gunzipSync(await store.readBuffer(r.descriptor.digest)).equals(tar)).toBe(true);
    }
  });

  it('trips size and entry limits with clear errors, storing nothing', async () => {
    const big = await makeTar([{ name: 'zeros', body: Buffer.alloc(2_000_000) }]);
    for (const input of [big, gzip(big)]) {
      const err = await importLayer(store, Readable.from([input]), { ...DEFAULT_TAR_LIMITS, maxTotalSize: 100_000 }).catch((e: unknown) => e);
      expect(hasCode(err, 'LAYER_TOO_LARGE')).toBe(true);
    }
    const many = await makeTar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: '' })));
    const err = await importLayer(store, Readable.from([many]), { ...DEFAULT_TAR_LIMITS, maxEntries: 10 }).catch((e: unknown) => e);
    expect(hasCode(err, 'LAYER_TOO_MANY_ENTRIES')).toBe(true);
    const deep = await makeTar([{ name: `${'d/'.repeat(40)}f`, body: '' }]);
    const err2 = await importLayer(store, Readable.from([deep]), { ...DEFAULT_TAR_LIMITS, maxDepth: 30 }).catch((e: unknown) => e);
    expect(hasCode(err2, 'LAYER_PATH_TOO_DEEP')).toBe(true);
    // a pax header bomb trips the header limit instead of being buffered
    const { encodeHeader } = await import('../diff/tar-header.js');
    const pax = Buffer.alloc(3 << 20, 'a');
    const bomb = Buffer.concat([
      rawPaxHeader(pax.length, 'PaxHeaders/f'),
      pax,
      Buffer.alloc((512 - (pax.length % 512)) % 512),
      encodeHeader({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }),
      Buffer.alloc(1024),
    ]);
    const err3 = await importLayer(store, Readable.from([bomb])).catch((e: unknown) => e);
    expect(hasCode(err3, 'LAYER_HEADER_TOO_LARGE')).toBe(true);
    const left: string[] = [];
    for await (const b of store.walk()) left.push(b.digest);
    expect(left).toEqual([]);
    expect(await fs.readdir(path.join(dir, 'content', 'ingest'))).toEqual([]);
  });

  it('rejects corrupt gzip and truncated tar', async () => {
    const tar = await makeTar([{ name: 'f', body: 'y'.repeat(5000) }]);
    const gz = gzip(tar);
    gz[gz.length - 20] ^= 0xff;
    expect(hasCode(await importLayer(store, Readable.from([gz])).catch((e: unknown) => e), 'LAYER_INVALID_TAR')).toBe(true);
    expect(hasCode(await importLayer(store, Readable.from([tar.subarray(0, 1000)])).catch((e: unknown) => e), 'LAYER_INVALID_TAR')).toBe(true);
  });
});

describe('--change instructions', () => {
  const apply = (...changes: string[]) => changes.reduce<ContainerConfig>((c, ch) => applyChange(c, ch), {});
  it('parses JSON and shell forms, pairs, ports, volumes', () => {
    expect(apply('CMD ["a", "b c"]').Cmd).toEqual(['a', 'b c']);
    expect(apply('CMD echo hi').Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(apply('SHELL ["/bin/bash", "-c"]', 'CMD echo').Cmd).toEqual(['/bin/bash', '-c', 'echo']);
    expect(apply('ENV A B C', 'ENV D=1 E="x y"', 'ENV A=2').Env).toEqual(['A=2', 'D=1', 'E=x y']);
    expect(apply("LABEL a=1 'b c'=\"d e\"").Labels).toEqual({ a: '1', 'b c': 'd e' });
    expect(apply('EXPOSE 80 443/TCP 1000-1002/udp').ExposedPorts).toEqual({ '80/tcp': {}, '443/tcp': {}, '1000/udp': {}, '1001/udp': {}, '1002/udp': {} });
    expect(apply('VOLUME ["/a", "/b"]', 'VOLUME /c /d').Volumes).toEqual({ '/a': {}, '/b': {}, '/c': {}, '/d': {} });
    expect(apply('WORKDIR /a', 'WORKDIR b').WorkingDir).toBe('/a/b');
    expect(apply('onbuild RUN make').OnBuild).toEqual(['RUN make']);
    expect(splitWords('a "b c" d\\ e')).toEqual(['a', 'b c', 'd e']);
  });
  it('rejects what docker rejects', () => {
    for (const bad of ['RUN x', 'FROM x', 'EXPOSE 70000', 'EXPOSE http', 'ONBUILD ONBUILD RUN x', 'LABEL novalue', 'USER', 'CMD', 'SHELL sh -c', 'ENV "A']) {
      expect(() => apply(bad), bad).toThrow(/--change/);
    }
  });
});
