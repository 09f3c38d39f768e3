export * from './types.js';
export { parseDockerfile, parseInstruction, INSTRUCTION_NAMES } from './parse.js';
export { InstrCode } from './errors.js';
export { parseMount, MountSyntaxError } from './mount.js';
export { heredocName } from './heredoc.js';
export { isDirectoryDest, checkChmod, checkChecksum, checkChown, checkDestForSources } from './parse-copy.js';
export { checkPort, checkSignal } from './parse-simple.js';
export { parseChmod, parseGoDuration, formatGoDuration, parsePortSpec } from './values.js';
export { suggest } from './suggest.js';
