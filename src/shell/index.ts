export { processWord, processWords, Lex, DEFAULT_MAX_DEPTH } from './lexer.js';
export { toEnvGetter, envListToMap } from './env.js';
export { isGoSpace, goTrimSpace } from './unicode.js';
export type { EnvGetter, EnvInput, ProcessWordResult, ShellOptions } from './types.js';
