export { FileCacheStore, MemoryCacheStore, LayeredCacheStore } from './record-store.js';
export { HistoryStore, MemoryHistoryStore } from './history-store.js';
export type { HistoryProvider } from './history-store.js';
export { cacheGcRoots } from './gc-roots.js';
export { writeFileAtomic, writeJsonAtomic, readJson } from './atomic.js';
export type * from './types.js';
