/**
 * Cgroup.remove on the host's real cgroup filesystem (v1 or v2). Needs root and /sys/fs/cgroup;
 * skips with a printed reason otherwise.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cgroup } from './cgroups.js';

function probe(): string | null {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (cgroups)';
  if (!existsSync('/sys/fs/cgroup')) return 'needs a cgroup filesystem at /sys/fs/cgroup';
  return null;
}
const reason = probe();
if (reason) console.warn(`cgroups.test.ts skipped: ${reason}`);
const skip = reason !== null;

const used = (cg: Cgroup) => cg.dirs.filter((d) => d.used);

describe('Cgroup.remove', () => {
  afterAll(async () => {
    if (!skip) await Cgroup.open('kiln-test').remove();
  });

  it.skipIf(skip)('removes a cgroup that still has child cgroups, in every hierarchy', async () => {
    const cg = await Cgroup.create(`kiln-test/${randomBytes(6).toString('hex')}`);
    // what a runtime killed before its own clean-up leaves: ctr/, with a cgroup of its own below
    for (const d of used(cg)) mkdirSync(path.join(d.dir, 'ctr', 'sub'), { recursive: true });
    await cg.remove();
    for (const d of used(cg)) expect(existsSync(d.dir), d.dir).toBe(false);
  });

  it.skipIf(skip)('killAll kills every task of the tree, those of a child cgroup too, and returns at once when it is empty', async () => {
    const cg = await Cgroup.create(`kiln-test/${randomBytes(6).toString('hex')}`);
    const a = spawn('sleep', ['30'], { stdio: 'ignore' });
    const b = spawn('sleep', ['30'], { stdio: 'ignore' });
    const gone = [a, b].map((c) => new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, sig) => r(sig))));
    for (const d of used(cg)) {
      mkdirSync(path.join(d.dir, 'ctr'));
      writeFileSync(path.join(d.dir, 'cgroup.procs'), String(a.pid));
      writeFileSync(path.join(d.dir, 'ctr', 'cgroup.procs'), String(b.pid));
    }
    await cg.killAll();
    expect(await Promise.all(gone)).toEqual(['SIGKILL', 'SIGKILL']);
    await cg.remove();
    for (const d of used(cg)) expect(existsSync(d.dir), d.dir).toBe(false);
    const t0 = Date.now();
    await cg.killAll(); // gone: nothing to do
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it.skipIf(skip)('waits for a task that is still exiting, then removes its cgroup', async () => {
    const cg = await Cgroup.create(`kiln-test/${randomBytes(6).toString('hex')}`);
    const child = spawn('sleep', ['0.2'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    // the task joins the cgroup in every hierarchy kiln uses (v2: the one unified directory)
    for (const d of used(cg)) writeFileSync(path.join(d.dir, 'cgroup.procs'), String(child.pid));
    await cg.remove(); // EBUSY until sleep is gone
    await exited;
    for (const d of used(cg)) expect(existsSync(d.dir), d.dir).toBe(false);
  });
});
