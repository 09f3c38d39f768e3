import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The runtime node-gyp builds: <package>/build/Release/kiln-runtime. The same from src/, dist/ and
 * dist/bundle/, which all sit two levels below the package root.
 */
export function bundledRuntimePath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'kiln-runtime');
}

let mountHelper: string | null | undefined;

/** The bundled runtime when it is built (it also mounts: `kiln-runtime mount|umount`), else null. */
export function bundledMountHelper(): string | null {
  if (mountHelper === undefined) {
    const p = bundledRuntimePath();
    mountHelper = existsSync(p) ? p : null;
  }
  return mountHelper;
}
