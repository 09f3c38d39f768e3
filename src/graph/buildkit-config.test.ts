/**
 * Image configs and history against BuildKit's own: test/conformance/cases holds configs recorded
 * from docker 20.10's BuildKit. Converting each case (with a busybox base like the recordings':
 * default PATH, one layer, no Cmd) must give the same config and the same history, entry by entry.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../dockerfile/index.js';
import type { ImageConfig } from '../image/types.js';
import { convertAst } from './convert.js';
import { DEFAULT_PATH } from './convert.js';

const casesDir = path.resolve(import.meta.dirname, '../../test/conformance/cases');
interface Recorded {
  image?: { config?: Record<string, unknown>; history?: { created_by?: string; empty_layer?: boolean }[]; author?: string; architecture?: string; os?: string };
}
const cases = existsSync(casesDir)
  ? readdirSync(casesDir)
      .sort()
      .filter((n) => {
        const file = path.join(casesDir, n, 'expected.json');
        if (!existsSync(file) || !existsSync(path.join(casesDir, n, 'Dockerfile'))) return false; // a case being recorded
        const e = JSON.parse(readFileSync(file, 'utf8')) as Recorded;
        // a case built on parent images of its own (ONBUILD triggers from them) needs those images:
        // test/conformance/buildkit.test.ts builds it end to end; here every base is plain busybox
        const caseFile = path.join(casesDir, n, 'case.json');
        if (existsSync(caseFile) && (JSON.parse(readFileSync(caseFile, 'utf8')) as { prebuild?: unknown[] }).prebuild?.length) return false;
        return e.image?.config !== undefined && e.image.history !== undefined;
      })
  : [];
if (cases.length === 0) console.warn(`skipping BuildKit config comparison: no recorded cases in ${casesDir}`);

const busybox = (): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  config: { Env: [`PATH=${DEFAULT_PATH}`] },
  rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}` as never] },
  history: [{ created_by: '' }],
});

describe.skipIf(cases.length === 0)('config and history match BuildKit recordings', () => {
  it.each(cases)('%s', async (name) => {
    const dir = path.join(casesDir, name);
    const expected = (JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Recorded).image!;
    const opts = existsSync(path.join(dir, 'case.json'))
      ? (JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as { buildArgs?: Record<string, string>; target?: string; platform?: string })
      : {};
    const r = await convertAst(parse(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' }), {
      ...(opts.buildArgs ? { buildArgs: opts.buildArgs } : {}),
      ...(opts.target ? { target: opts.target } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      buildPlatform: 'linux/amd64',
      imageResolver: async () => busybox(),
    });
    expect(r.config.config ?? {}).toEqual(expected.config);
    const history = (r.config.history ?? []).map((h) => (h.empty_layer ? { created_by: h.created_by, empty_layer: true } : { created_by: h.created_by }));
    expect(history).toEqual(expected.history);
    for (const k of ['author', 'architecture', 'os'] as const) if (k in expected) expect(r.config[k]).toBe(expected[k]);
  });
});
