import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { probeOverlay } from './mount.js';
import { NativeSnapshotter } from './native.js';
import { OverlaySnapshotter } from './overlay.js';
import type { Snapshotter } from './types.js';

export * from './types.js';
export { BaseSnapshotter, diskUsage, syncFs } from './base.js';
export { OverlaySnapshotter } from './overlay.js';
export { NativeSnapshotter } from './native.js';
export {
  compactOverlay,
  directDir,
  mountAll,
  oneShotMounts,
  probeOverlay,
  unmountAll,
  withMountedSnapshot,
  withSnapshotDir,
  MAX_OPTIONS_LENGTH,
  OVERLAY_EXTRA_OPTIONS,
} from './mount.js';

/**
 * A successful overlay probe is remembered in `<dir>/.probe-ok` for this kernel and this filesystem,
 * so every kiln command does not pay for a test mount (hundreds of ms on a busy machine).
 */
async function probeStamp(dir: string): Promise<string> {
  const st = await fs.stat(dir).catch(() => undefined);
  return `${os.release()} dev=${st?.dev ?? 'none'}\n`;
}

async function probeRemembered(dir: string): Promise<boolean> {
  const saved = await fs.readFile(path.join(dir, '.probe-ok'), 'utf8').catch(() => undefined);
  return saved !== undefined && saved === (await probeStamp(dir));
}

async function rememberProbe(dir: string): Promise<void> {
  await fs.writeFile(path.join(dir, '.probe-ok'), await probeStamp(dir)).catch(() => {});
}

export type SnapshotterDriver = 'overlayfs' | 'native' | 'auto';

/**
 * The snapshotter for a kiln root. `auto` (default; or $KILN_SNAPSHOTTER) picks overlayfs when a
 * real test mount under `<root>/snapshots/overlayfs` works, otherwise the copying one.
 */
export async function createSnapshotter(root: string, driver: SnapshotterDriver = (process.env.KILN_SNAPSHOTTER as SnapshotterDriver) || 'auto'): Promise<Snapshotter> {
  if (driver === 'native') return new NativeSnapshotter(root);
  if (driver !== 'overlayfs' && driver !== 'auto') {
    throw new InvalidArgumentError(`unknown snapshotter ${JSON.stringify(driver)} (overlayfs, native, auto)`, { code: 'SNAPSHOT_UNKNOWN_DRIVER' });
  }
  const dir = path.join(root, 'snapshots', 'overlayfs');
  if (await probeRemembered(dir)) return new OverlaySnapshotter(root);
  const reason = await probeOverlay(dir);
  if (!reason) {
    await rememberProbe(dir);
    return new OverlaySnapshotter(root);
  }
  if (driver === 'overlayfs') throw new InvalidArgumentError(`overlayfs snapshotter unavailable: ${reason}`, { code: 'SNAPSHOT_OVERLAY_UNAVAILABLE' });
  return new NativeSnapshotter(root);
}
