export {
  parseIgnoreFile,
  PatternMatcher,
  matchesCompat,
  matchesOrParentMatchesCompat,
  readDockerignore,
  MAX_IGNOREFILE_BYTES,
} from './dockerignore.js';
export type { IgnoreFile, MatchState } from './dockerignore.js';
export { compilePattern } from './pattern.js';
export type { MatchType } from './pattern.js';
export type { ContextFile, ContextFileType, ContextSelection, ContextHashResult } from './types.js';
export { ContextSource, hashContextPaths, containsWildcards, splitWildcards } from './source.js';
export type { ContextSourceOptions, ContextStats } from './source.js';
export { resolveInRoot, cleanInRoot } from './resolve.js';
export { cacheFileFor } from './cache.js';
