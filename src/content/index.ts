export * from './types.js';
export { LocalContentStore, type LocalContentStoreOptions } from './local.js';
export { Verifier, VerifyError } from './verifier.js';
