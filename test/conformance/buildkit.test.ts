/**
 * Differential conformance of `kiln build` against BuildKit.
 *
 * Each directory in ./cases holds a Dockerfile, its build context and `expected.json`: the final
 * root filesystem and the image config BuildKit (docker 20.10) produced, recorded by
 * scripts/record-buildkit.mjs. Cases for features newer than that BuildKit carry expectations
 * written from the Dockerfile reference (`"handWritten": true`; only the listed paths and fields
 * are compared). This test builds every case with kiln, without dockerd:
 *   kiln build --network host -t kiln-conformance/<case> -o type=local,dest=OUT CONTEXT
 * describes OUT with the same walker the recording used (./tree.mjs) and the image with
 * `kiln image inspect`, and compares.
 *
 * Where kiln is known to differ, ./known-differences.json names the exact difference (the key
 * and kiln's value); the case still asserts everything else, and fails if the difference changes
 * or disappears (so the list stays true).
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerSkipReason } from '../helpers/busybox.js';
import { kiln, tempRoot } from '../helpers/cli.js';
import { caseBuildFlags, describeConfig, describeTree, readCaseOptions, stageContext, type ImageDescription } from './tree.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const casesDir = path.join(here, 'cases');

interface Expected {
  recordedWith?: string;
  handWritten?: boolean;
  fails?: boolean;
  error?: string;
  image?: Partial<ImageDescription>;
  /** path -> description, or null: the path must not exist (hand-written cases only) */
  fs?: Record<string, string | null>;
}

interface KnownDifference {
  /** `build`, `fs:<path>` or `image:<field>` */
  key: string;
  /** what BuildKit produced (as recorded) */
  buildkit: unknown;
  /** what kiln produces today */
  kiln: unknown;
  note: string;
}

const known = JSON.parse(readFileSync(path.join(here, 'known-differences.json'), 'utf8')) as Record<string, KnownDifference[]>;

/*
 * Ignore rules. Only what legitimately differs between a BuildKit recording taken through
 * `docker create` + `docker export` and kiln's `-o type=local` output:
 *
 * 1. Times: never recorded (tree.mjs leaves mtimes out; history `created` is not compared).
 * 2. Files docker's init layer adds to every container (moby daemon/initlayer and the container's
 *    own mount points), which `docker export` includes but no image layer holds:
 *    /.dockerenv, /etc/hostname, /etc/hosts, /etc/resolv.conf — ignored on both sides.
 * 3. Directories and nodes the init layer creates when the image lacks them: /dev, /dev/console,
 *    /dev/pts, /dev/shm, /proc, /sys, /etc (for /etc/hosts...), /etc/mtab (-> /proc/mounts).
 *    Ignored only when the recording has them and kiln does not; when both have them (the base
 *    image ships /dev, /proc, /sys, /etc) they are compared like any other path.
 * 4. Directory sizes are filesystem-dependent and never recorded.
 */
const INIT_LAYER_FILES = new Set(['/.dockerenv', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
const INIT_LAYER_IF_MISSING = new Set(['/dev', '/dev/console', '/dev/pts', '/dev/shm', '/proc', '/sys', '/etc', '/etc/mtab']);

function compareFs(expected: Record<string, string | null>, actual: Record<string, string>, partial: boolean): Map<string, { buildkit: unknown; kiln: unknown }> {
  const diffs = new Map<string, { buildkit: unknown; kiln: unknown }>();
  const paths = new Set([...Object.keys(expected), ...(partial ? [] : Object.keys(actual))]);
  for (const p of [...paths].sort()) {
    if (INIT_LAYER_FILES.has(p)) continue; // rule 2
    const want = expected[p] ?? null;
    const got = actual[p] ?? null;
    if (want !== null && got === null && INIT_LAYER_IF_MISSING.has(p)) continue; // rule 3
    if (want !== got) diffs.set(`fs:${p}`, { buildkit: want, kiln: got });
  }
  return diffs;
}

function compareImage(expected: Partial<ImageDescription>, actual: ImageDescription, partial: boolean): Map<string, { buildkit: unknown; kiln: unknown }> {
  const diffs = new Map<string, { buildkit: unknown; kiln: unknown }>();
  // Objects compare with sorted keys: Go writes map keys (Labels, Volumes, ExposedPorts) sorted,
  // kiln in declaration order; the order carries no meaning for the image.
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canon(x)])) : v;
  const eq = (a: unknown, b: unknown): boolean => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
  const cfgWant = expected.config ?? {};
  const keys = new Set([...Object.keys(cfgWant), ...(partial ? [] : Object.keys(actual.config))]);
  for (const k of [...keys].sort()) {
    if (!eq(cfgWant[k] ?? null, actual.config[k] ?? null)) diffs.set(`image:config.${k}`, { buildkit: cfgWant[k] ?? null, kiln: actual.config[k] ?? null });
  }
  for (const k of ['author', 'architecture', 'os', 'layers'] as const) {
    if (partial && !(k in expected)) continue;
    if (!eq(expected[k] ?? null, actual[k] ?? null)) diffs.set(`image:${k}`, { buildkit: expected[k] ?? null, kiln: actual[k] ?? null });
  }
  // history entry by entry (created_by text and empty_layer), so a difference names its step
  if (!partial || expected.history) {
    const want = expected.history ?? [];
    for (let i = 0; i < Math.max(want.length, actual.history.length); i++) {
      if (!eq(want[i] ?? null, actual.history[i] ?? null)) diffs.set(`image:history[${i}]`, { buildkit: want[i] ?? null, kiln: actual.history[i] ?? null });
    }
  }
  return diffs;
}

/** At most two builds at a time: the machine has two cores and the suite must stay quick. */
const slots = { free: 2, waiting: [] as Array<() => void> };
async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (slots.free === 0) await new Promise<void>((r) => slots.waiting.push(r));
  else slots.free--;
  try {
    return await fn();
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  }
}

const reason = containerSkipReason();
if (reason) console.warn(`skipping BuildKit conformance (test/conformance): ${reason}`);

const caseNames = readdirSync(casesDir).filter((n) => !n.startsWith('.')).sort();

describe.skipIf(!!reason)('kiln build matches BuildKit (recorded)', () => {
  let root = '';
  let cleanup = (): void => {};
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-conformance-'));

  beforeAll(async () => {
    ({ root, cleanup } = tempRoot('kiln-conformance-root-'));
    // the same tarball the recording `docker import`ed as busybox:latest (imported in-process, like
    // the builds, so the suite tests the sources and not a possibly stale dist/)
    const tar = path.join(scratch, 'busybox-rootfs.tar');
    execFileSync('bash', [path.join(here, '../../scripts/busybox-rootfs.sh'), tar]);
    const res = await kiln(root, 'import', tar, 'busybox:latest');
    expect(res.code, res.stderr).toBe(0);
  });
  afterAll(() => {
    cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('every case has a recording, and every known difference names a case', () => {
    for (const n of caseNames) expect(readdirSync(path.join(casesDir, n)), n).toContain('expected.json');
    for (const n of Object.keys(known)) expect(caseNames, 'known-differences.json').toContain(n);
  });

  describe.concurrent('cases', () => {
    for (const name of caseNames) {
      it(name, { timeout: 600_000 }, async () => {
        const caseDir = path.join(casesDir, name);
        const expected = JSON.parse(readFileSync(path.join(caseDir, 'expected.json'), 'utf8')) as Expected;
        const opts = readCaseOptions(caseDir);
        const work = path.join(scratch, name);
        const ctxDir = path.join(work, 'context');
        const out = path.join(work, 'out');
        stageContext(caseDir, ctxDir);
        const tag = `kiln-conformance/${name}:latest`;
        const args = ['build', '--progress', 'plain', '--network', 'host', '-t', tag, '-o', `type=local,dest=${out}`];
        args.push(...caseBuildFlags(opts, work));
        // ADD <url> cases: a local HTTP server (127.0.0.1 only) serves the case's files; BASE is its URL
        let server: http.Server | undefined;
        if (opts.http) {
          const files = opts.http;
          server = http.createServer((req, res) => {
            const body = files[req.url ?? ''];
            res.writeHead(body === undefined ? 404 : 200, { 'Content-Type': 'application/octet-stream' });
            res.end(body ?? 'not found');
          });
          await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
          args.push('--build-arg', `BASE=http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        }
        args.push(ctxDir);

        const contextBefore = describeTree(ctxDir);
        const res = await withSlot(async () => {
          for (const pre of opts.prebuild ?? []) {
            const r = await kiln(root, 'build', '--progress', 'plain', '--network', 'host', '-f', path.join(ctxDir, pre.dockerfile), '-t', pre.tag, ctxDir);
            expect(r.code, `prebuild ${pre.dockerfile}: ${r.stderr}`).toBe(0);
          }
          return kiln(root, ...args);
        }).finally(() => server?.close());
        const diffs = new Map<string, { buildkit: unknown; kiln: unknown }>();
        // the first error line, with the temporary context path (it changes every run) replaced
        const firstError = (s: string): string =>
          (s.split('\n').find((l) => /error|failed|not found/i.test(l)) ?? s.trim().split('\n').pop() ?? '').replace(/\S*kiln-conformance-[^/\s]+\/[^/\s]+\/context\//g, '<context>/');
        if (expected.fails) {
          if (res.code === 0) diffs.set('build', { buildkit: `fails: ${expected.error}`, kiln: 'succeeds' });
        } else if (res.code !== 0) {
          diffs.set('build', { buildkit: 'succeeds', kiln: `fails: ${firstError(res.stderr)}` });
        } else {
          const partial = !!expected.handWritten;
          for (const [k, v] of compareFs(expected.fs ?? {}, describeTree(out), partial)) diffs.set(k, v);
          const ins = await kiln(root, 'image', 'inspect', tag);
          expect(ins.code, ins.stderr).toBe(0);
          const [img] = JSON.parse(ins.stdout) as Array<{
            Config: Record<string, unknown>;
            Author: string;
            Architecture: string;
            Os: string;
            RootFS: { Layers: string[] };
            History: Array<{ created_by?: string; empty_layer?: boolean }>;
          }>;
          const actual = describeConfig({
            config: img!.Config,
            author: img!.Author,
            architecture: img!.Architecture,
            os: img!.Os,
            rootfs: { diff_ids: img!.RootFS.Layers },
            history: img!.History,
          });
          for (const [k, v] of compareImage(expected.image ?? {}, actual, partial)) diffs.set(k, v);
        }
        // a build never writes into its context (RUN --mount=type=bind,rw writes go to a copy)
        expect(describeTree(ctxDir), `${name}: the build changed its context directory`).toEqual(contextBefore);
        rmSync(work, { recursive: true, force: true });

        // For whoever updates known-differences.json: CONFORMANCE_DIFFS_OUT=FILE appends every difference found.
        if (process.env.CONFORMANCE_DIFFS_OUT) {
          appendFileSync(process.env.CONFORMANCE_DIFFS_OUT, `${JSON.stringify({ case: name, diffs: Object.fromEntries(diffs) })}\n`);
        }

        // Known differences must still be exactly as listed; everything else must match.
        const listed = known[name] ?? [];
        const unexpected: Record<string, unknown> = {};
        for (const [k, v] of diffs) {
          const kd = listed.find((d) => d.key === k);
          if (!kd || JSON.stringify(kd.kiln) !== JSON.stringify(v.kiln)) unexpected[k] = v;
        }
        const vanished = listed.filter((d) => !diffs.has(d.key)).map((d) => d.key);
        if (Object.keys(unexpected).length || vanished.length) {
          console.error(`${name}: kiln output:\n${res.stderr.split('\n').slice(-30).join('\n')}`);
        }
        expect(unexpected, `${name}: differences from BuildKit not in known-differences.json`).toEqual({});
        expect(vanished, `${name}: known differences that are gone (fixed? remove them from known-differences.json)`).toEqual([]);
      });
    }
  });
});
