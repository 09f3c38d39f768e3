export * from './types.js';
export { applyLayer, applyTar } from './apply.js';
export { compareMounts, diffSnapshot, envSourceDateEpoch, snapshotChanges, tarWithDigest, writeLayer } from './compare.js';
export { treeChanges, upperDirChanges, type ChangeOptions, type LayerEntry } from './changes.js';
export { decompressStream, detectCompression, gzipParallel, rechunk, type Compression, type GzipOptions } from './compress.js';
export { cleanComponents, RootResolver } from './resolve.js';
export { encodeHeader, type EntryType, type TarHeader } from './tar-header.js';
export { DEFAULT_LIMITS, TarReader, type TarLimits } from './tar-reader.js';
export { writeTar } from './tar-writer.js';
