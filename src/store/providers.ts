/**
 * The GC root providers every kiln process knows. Each stage that references blobs adds one import line
 * for its registering module here (see src/store/gc.ts for the contract).
 */
import { registerRootProvider } from './gc.js';
import { imageRootProvider } from './image-roots.js';
import { leaseRootProvider } from './leases.js';

registerRootProvider(imageRootProvider);
registerRootProvider(leaseRootProvider);

export { rootProviders } from './gc.js';
