import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Why tests that run containers cannot run here, or undefined when they can. */
export function containerSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, mounts, cgroups)';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (apt-get install busybox-static)';
  if (!existsSync(path.join(repoRoot, 'build/Release/kiln-runtime'))) return 'the bundled runtime is not built (npm run build)';
  if (!existsSync(path.join(repoRoot, 'dist/cli/main.js'))) return 'dist/ is not built (npm run build)';
  return undefined;
}

/** Import a busybox root filesystem as `name` into the store at `root` (through the real CLI). */
export function importBusybox(root: string, name = 'busybox:latest'): void {
  const tar = execFileSync('bash', [path.join(repoRoot, 'scripts/busybox-rootfs.sh'), '-'], { maxBuffer: 64 << 20 });
  execFileSync(process.execPath, [path.join(repoRoot, 'bin/kiln.js'), '--root', root, 'import', '-', name], { input: tar });
}

/** Run the built kiln binary (for what must be a separate process, like detached containers). */
export function kilnBin(root: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [path.join(repoRoot, 'bin/kiln.js'), '--root', root, ...args], {
      encoding: 'utf8',
      ...(input !== undefined ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }),
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
