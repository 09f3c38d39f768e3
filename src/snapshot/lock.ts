import { promises as fs } from 'node:fs';
import { KilnError } from '../diagnostics/errors.js';

/**
 * A cross-process lock file: `open(O_CREAT|O_EXCL)` holding the owner's pid. A lock whose owner
 * process is gone is taken over (renamed away first, so only one waiter wins the takeover).
 * Within one process, callers are serialised by a promise chain before they touch the file, so
 * the same pid never waits on itself.
 */
const chains = new Map<string, Promise<unknown>>();

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function acquire(lockPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number.parseInt(await fs.readFile(lockPath, 'utf8'), 10);
    } catch {
      continue; // vanished between open and read: retry at once
    }
    // An empty file is a lock being written right now; only a parsed, dead pid is stale.
    if (!Number.isNaN(owner) && !alive(owner)) {
      const aside = `${lockPath}.stale-${process.pid}-${Date.now()}`;
      try {
        await fs.rename(lockPath, aside);
        const again = Number.parseInt(await fs.readFile(aside, 'utf8'), 10);
        if (again === owner) {
          await fs.rm(aside, { force: true });
          continue;
        }
        // We moved a fresh lock of a live process aside: put it back if the name is still free.
        await fs.link(aside, lockPath).catch(() => undefined);
        await fs.rm(aside, { force: true });
      } catch {
        /* someone else took it over; retry */
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new KilnError('SNAPSHOT_LOCKED', `timed out waiting for lock ${lockPath} (held by pid ${owner})`, {
        hint: 'another kiln process is using the snapshot store; if none runs, remove the lock file',
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/** Run `fn` holding the lock file `lockPath` (created if missing; its directory must exist). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const prev = chains.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  chains.set(lockPath, chained);
  await prev.catch(() => undefined);
  try {
    await acquire(lockPath, timeoutMs);
    try {
      return await fn();
    } finally {
      await fs.rm(lockPath, { force: true });
    }
  } finally {
    release();
    if (chains.get(lockPath) === chained) chains.delete(lockPath);
  }
}

export { alive as processAlive };
