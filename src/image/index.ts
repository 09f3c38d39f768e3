export * from './types.js';
export * from './digest.js';
export * from './reference.js';
export * from './manifest.js';
export { ImageStore, type ImageRecord, type ResolvedImage, type LayerInput, type CreateImageOptions } from './store.js';
