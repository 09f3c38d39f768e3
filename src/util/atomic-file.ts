/**
 * Atomic small-file writes: a temp file renamed over the target. The durable ones fsync the file
 * before the rename and the directory after it; replaceFileUnsynced skips both, for files whose loss
 * after a power cut costs only work.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from './process.js';

const fsyncFd = promisify(fsync);

/**
 * `.<name>.<pid>.<12 hex>.tmp` beside `file`: the name cleanAtomicTemps knows a writer's leftovers
 * by. The hex part is a random start drawn once per process plus a counter (a getrandom call per
 * write showed in the profile of a build's last 60 ms); temp files are opened exclusively anyway.
 */
let tempSeq = randomBytes(6).readUIntBE(0, 6);
const tempPath = (file: string): string => {
  tempSeq = (tempSeq + 1) % 2 ** 48;
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tempSeq.toString(16).padStart(12, '0')}.tmp`);
};

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = tempPath(file);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * writeFileAtomic for a small file in a directory that exists, in two thread-pool round trips
 * instead of nine: open, write, close and rename are synchronous calls (microseconds for a few KB),
 * only the two fsyncs go to the pool, so they neither block this thread nor wait in line behind
 * other work's round trips. For metadata rewritten under a lock several times per build step.
 */
export async function writeSmallFileAtomic(
  file: string,
  data: string | Uint8Array,
  mode = 0o644,
  opts: {
    /** the temp file (default: beside `file`, named as cleanAtomicTemps knows it); same filesystem */
    tmp?: string;
    /** false: no fsyncs (tests that measure something else) */
    sync?: boolean;
    /**
     * false: the file is fsynced, the directory not. The rename may then be lost with a power cut
     * (the file then holds its previous contents, whole), for changes a crash loses anyway.
     */
    syncDir?: boolean;
  } = {},
): Promise<void> {
  const dir = path.dirname(file);
  const tmp = opts.tmp ?? tempPath(file);
  const sync = opts.sync ?? true;
  const fd = openSync(tmp, 'wx', mode);
  let open = true; // never close twice: the thread pool may have reused the number meanwhile
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    if (sync) await fsyncFd(fd);
    open = false;
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    if (open) {
      try {
        closeSync(fd);
      } catch {
        /* the error that matters is err */
      }
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  if (sync && opts.syncDir !== false) await fsyncDir(dir);
}

/**
 * Replace `file` atomically for readers and against a kill, but not against a power loss: a temp file
 * renamed over it with synchronous calls, no fsync. For files whose loss or truncation after a crash
 * costs nothing but work, such as cache records (an unreadable record is a miss). Creates the
 * directory when missing.
 */
export function replaceFileUnsynced(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempPath(file);
  try {
    try {
      writeFileSync(tmp, data, { mode, flag: 'wx' });
    } catch (err) {
      // the directory is made only when missing (a build writes records by the dozen)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(tmp, data, { mode, flag: 'wx' });
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** fsync a directory, so a rename or create in it survives a crash (one thread-pool round trip, for the fsync). */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Read a JSON file; `undefined` when it does not exist. */
export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** Remove `.<name>.<pid>.<rand>.tmp` leftovers of killed writers in a metadata directory. */
export async function cleanAtomicTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(n);
    if (!m) continue;
    if (!processAlive(Number(m[1]))) await fs.rm(path.join(dir, n), { force: true });
  }
}
