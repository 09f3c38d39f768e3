// Small helpers the store benchmarks share (bench/layer.mjs, bench/image-store.mjs).
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled modules (`npm run build`). */
export const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Run a shell command, its output discarded (stderr shown). */
export const sh = (cmd) => execSync(cmd, { stdio: ['ignore', 'ignore', 'inherit'], shell: '/bin/bash' });

/** Seconds `fn` took. */
export const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

/** A scratch directory under $BENCH_DIR (default: the temp dir), removed when the process exits. */
export function workDir(prefix) {
  const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), prefix));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  return work;
}
