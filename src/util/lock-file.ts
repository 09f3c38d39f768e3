/**
 * A cross-process lock file for read-modify-write of metadata under one store root.
 *
 * `withLock(file, fn)` creates `file` with O_EXCL holding `<pid> <hostname> <time>`, runs `fn`, removes it.
 * A lock whose owner process is gone (kill -9) is stale and broken; breaking goes through a second
 * O_EXCL "breaker" file so two waiters cannot both break and then remove each other's fresh lock.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import { KilnError } from '../diagnostics/errors.js';
import { processAlive } from './process.js';

export interface LockOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock older than this is stale even if its pid looks alive (pid reuse); default 10 min. */
  staleMs?: number;
}

const HOST = os.hostname();


/**
 * Create the lock file, or false when it exists. Synchronous: three tiny syscalls, cheaper than three
 * round trips through libuv's thread pool (metadata updates take this lock several times per step).
 */
function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${process.pid} ${HOST} ${Date.now()}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

async function isStale(file: string, staleMs: number): Promise<string | undefined> {
  let text: string;
  let mtime: number;
  try {
    text = await fs.readFile(file, 'utf8');
    mtime = (await fs.stat(file)).mtimeMs;
  } catch {
    return undefined; // gone: not stale, just retry
  }
  const [pidStr, host] = text.trim().split(' ');
  const pid = Number(pidStr);
  if (text.trim() === '') {
    // created but not yet written, or its writer died right there
    return Date.now() - mtime > 5000 ? text : undefined;
  }
  if (Date.now() - mtime > staleMs) return text;
  if (host === HOST && !processAlive(pid)) return text;
  return undefined;
}

async function breakStale(file: string, staleText: string): Promise<void> {
  const breaker = `${file}.break`;
  if (!tryCreate(breaker)) {
    // someone else is breaking it; a breaker left by a killed process is removed after 5 s
    try {
      const st = await fs.stat(breaker);
      if (Date.now() - st.mtimeMs > 5000) await fs.rm(breaker, { force: true });
    } catch {
      /* gone */
    }
    return;
  }
  try {
    const now = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (now === staleText) await fs.rm(file, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}

export async function acquireLock(file: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 10 * 60_000;
  const start = Date.now();
  let delay = 2;
  for (;;) {
    if (tryCreate(file)) {
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
    }
    const stale = await isStale(file, staleMs);
    if (stale !== undefined) {
      await breakStale(file, stale);
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      throw new KilnError('STORE_LOCKED', `timed out waiting for lock ${file}`, {
        hint: 'another kiln process holds it; if none is running, remove the file',
      });
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Callers in this process queue for a lock file in order, so the file is only polled across processes. */
const queues = new Map<string, Promise<unknown>>();

/** Run `fn` holding the lock file `file` (its directory must exist). */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const prev = queues.get(file) ?? Promise.resolve();
  let done!: () => void;
  const gate = new Promise<void>((r) => (done = r));
  const mine = prev.catch(() => undefined).then(() => gate);
  queues.set(file, mine);
  await prev.catch(() => undefined);
  try {
    const release = await acquireLock(file, options);
    try {
      return await fn();
    } finally {
      await release();
    }
  } finally {
    done();
    if (queues.get(file) === mine) queues.delete(file);
  }
}
