/**
 * Extended attributes through @napi-rs/xattr, loaded on first use: loading the addon (and its
 * libc probe, which reads /usr/bin/ldd) cost every kiln command ~10 ms at start, and most
 * commands - a no-op build among them - never touch an xattr.
 */
import { createRequire } from 'node:module';

type Xattr = typeof import('@napi-rs/xattr');
let addon: Xattr | undefined;
const load = (): Xattr => (addon ??= createRequire(import.meta.url)('@napi-rs/xattr') as Xattr);

export const getAttributeSync: Xattr['getAttributeSync'] = (...a) => load().getAttributeSync(...a);
export const setAttributeSync: Xattr['setAttributeSync'] = (...a) => load().setAttributeSync(...a);
export const listAttributesSync: Xattr['listAttributesSync'] = (...a) => load().listAttributesSync(...a);
