export type * from './types.js';
export { convert, convertAst, DEFAULT_PATH } from './convert.js';
export { canonicalJson, vertexDigest } from './marshal.js';
export { formatPlatform, parsePlatform, hostPlatform } from './platform.js';
export { GraphCode } from './internal.js';
export { vertexMap, formatGraphText, formatGraphDot } from './print.js';
