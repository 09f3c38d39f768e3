#!/usr/bin/env node
// Push and pull of a 500 MB, 5-layer image on loopback (Debian's docker-registry on 127.0.0.1):
// `kiln push` / `kiln pull` (the CLI, a fresh process each run) beside `skopeo copy` between the
// same registry and an OCI layout. Each push goes to a fresh, empty registry (nothing to skip or
// mount); each pull goes into an empty store / layout. Prints medians and kiln/skopeo ratios.
//
//   node bench/registry.mjs [--runs 5] [--mb 500] [--layers 5] [--api]
// Needs a built dist/ (npm run build), docker-registry and skopeo.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeLayout, startRegistry } from './registry-lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 5);
const MB = arg('mb', 500);
const LAYERS = arg('layers', 5);

for (const [bin, why] of [['/usr/bin/docker-registry', 'docker-registry'], ['/usr/bin/skopeo', 'skopeo']]) {
  if (!existsSync(bin)) {
    console.log(`skipping registry bench: ${why} is not installed`);
    process.exit(0);
  }
}
if (!existsSync(path.join(repoRoot, 'dist', 'registry', 'index.js'))) {
  console.log('skipping registry bench: dist/ is not built (npm run build)');
  process.exit(0);
}
const { openStores } = await import(path.join(repoRoot, 'dist', 'store', 'index.js'));

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-bench-reg-'));
// `kiln push -q` / `kiln pull -q` through bin/kiln.js; `--api` runs pushImage/pullImage via registry-run.mjs instead.
const useApi = process.argv.includes('--api');
const kilnArgs = (op, root, name) =>
  useApi ? [path.join(here, 'registry-run.mjs'), op, root, name] : [path.join(repoRoot, 'bin', 'kiln.js'), '--root', root, op, '-q', name];
const run = (cmd, args, env = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
// Flush dirty pages first, so no run pays for the writeback of the one before.
const time = (fn) => {
  execFileSync('sync');
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  console.log(`building a ${MB} MB, ${LAYERS}-layer image …`);
  const layout = path.join(tmp, 'layout');
  const img = await makeLayout(layout, LAYERS, Math.floor((MB * 1e6) / LAYERS));
  const totalBytes = img.blobs.reduce((a, b) => a + b.size, 0);
  // The same image in a kiln store, named for each push target later.
  const srcRoot = path.join(tmp, 'kiln-src');
  const stores = await openStores(srcRoot);
  for (const b of img.blobs) {
    const { createReadStream } = await import('node:fs');
    await stores.content.put(createReadStream(path.join(layout, 'blobs', 'sha256', b.digest.slice(7))), { digest: b.digest, size: b.size });
  }
  // skopeo keeps a blob-info cache (to mount/skip blobs it saw before): give it a fresh HOME per run.
  const skopeoEnv = async (i) => {
    const home = path.join(tmp, `home-${i}-${Math.random().toString(36).slice(2)}`);
    await fs.mkdir(home, { recursive: true });
    return { HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CACHE_HOME: path.join(home, 'cache') };
  };

  const res = { kilnPush: [], skopeoPush: [], kilnPull: [], skopeoPull: [] };
  for (let i = 0; i < RUNS; i++) {
    // push: a fresh registry for each tool and run
    {
      const reg = await startRegistry();
      const name = `${reg.host}/bench/img:v1`;
      await stores.images.setName(name, img.manifest);
      await fs.rm(path.join(srcRoot, 'meta', 'registry-sources'), { recursive: true, force: true });
      res.kilnPush.push(time(() => run(process.execPath, kilnArgs('push', srcRoot, name))));
      await reg.stop();
    }
    {
      const reg = await startRegistry();
      const env = await skopeoEnv(i);
      res.skopeoPush.push(time(() => run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/bench/img:v1`], env)));
      await reg.stop();
    }
    // pull: one registry holding the image, an empty store / layout each run
    {
      const reg = await startRegistry();
      run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/bench/img:v1`], await skopeoEnv(`seed${i}`));
      const root = path.join(tmp, `kiln-pull-${i}`);
      res.kilnPull.push(time(() => run(process.execPath, kilnArgs('pull', root, `${reg.host}/bench/img:v1`))));
      await fs.rm(root, { recursive: true, force: true });
      const out = path.join(tmp, `skopeo-pull-${i}`);
      const env = await skopeoEnv(`pull${i}`);
      res.skopeoPull.push(time(() => run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/bench/img:v1`, `oci:${out}:v1`], env)));
      await fs.rm(out, { recursive: true, force: true });
      await reg.stop();
    }
    console.log(
      `run ${i + 1}/${RUNS}: kiln push ${res.kilnPush[i].toFixed(2)}s, skopeo push ${res.skopeoPush[i].toFixed(2)}s, ` +
        `kiln pull ${res.kilnPull[i].toFixed(2)}s, skopeo pull ${res.skopeoPull[i].toFixed(2)}s`,
    );
  }
  const mbps = (s) => (totalBytes / 1e6 / s).toFixed(0);
  console.log(`\n${(totalBytes / 1e6).toFixed(0)} MB in ${LAYERS} layers, ${RUNS} runs, medians (loopback, ${os.cpus().length} cores):`);
  for (const op of ['Push', 'Pull']) {
    const k = median(res[`kiln${op}`]);
    const s = median(res[`skopeo${op}`]);
    console.log(
      `  ${op.toLowerCase()}: kiln ${k.toFixed(2)}s (${mbps(k)} MB/s)  skopeo ${s.toFixed(2)}s (${mbps(s)} MB/s)  kiln/skopeo time ratio ${(k / s).toFixed(2)}`,
    );
  }
} finally {
  await fs.rm(tmp, { recursive: true, force: true });
}
