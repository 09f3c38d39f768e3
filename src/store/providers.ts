/**
 * The GC root providers every kiln process knows. Each stage that references blobs adds one import line
 * for its registering module here (see src/store/gc.ts for the contract).
 */
import { registerRootProvider } from './gc.js';
import { imageRootProvider } from './image-roots.js';
import { leaseRootProvider } from './leases.js';
import { containerRootProvider } from './container-roots.js';
import { cacheRootProvider } from '../cache/gc-roots.js';

registerRootProvider(imageRootProvider);
registerRootProvider(leaseRootProvider);
registerRootProvider(containerRootProvider);
registerRootProvider(cacheRootProvider);

export { rootProviders } from './gc.js';
