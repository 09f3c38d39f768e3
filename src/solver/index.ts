export { Solver, solve, defaultStepId } from './scheduler.js';
export { computeCacheKey, canonicalJson, digestOf, sha256, selectedFilesDigest } from './cache-key.js';
export type { SelectedFile } from './cache-key.js';
export { explainMiss } from './explain.js';
export { VertexError, CanceledError, isCanceled } from './errors.js';
export { Singleflight } from './singleflight.js';
export type * from './types.js';
