/**
 * Extended attributes through @napi-rs/xattr, loaded on first use: loading the addon (and its
 * libc probe, which reads /usr/bin/ldd) cost every kiln command ~10 ms at start, and most
 * commands - a no-op build among them - never touch an xattr.
 */
import { createRequire } from 'node:module';

type Xattr = typeof import('@napi-rs/xattr');
let addon: Xattr | undefined;
const load = (): Xattr => (addon ??= createRequire(import.meta.url)('@napi-rs/xattr') as Xattr);

/**
 * Load the addon now, when this thread has nothing better to do (a failure is left to the first
 * real use to report).
 */
export function warmXattr(): void {
  try {
    load();
  } catch {
    /* reported where an xattr is needed */
  }
}

export const getAttributeSync: Xattr['getAttributeSync'] = (...a) => load().getAttributeSync(...a);
export const setAttributeSync: Xattr['setAttributeSync'] = (...a) => load().setAttributeSync(...a);
export const listAttributesSync: Xattr['listAttributesSync'] = (...a) => load().listAttributesSync(...a);
