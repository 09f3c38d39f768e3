/** The Dockerfile parser: text -> Ast, exactly as BuildKit's parser reads it. */
export type * from './types.js';
export { parse, INSTRUCTIONS, MAX_LINE_BYTES } from './parse.js';
export { dump, dumpInstruction } from './dump.js';
export { astToJson, instructionToJson, stringifyJsonAst, type JsonAst, type JsonInstruction, type JsonHeredoc } from './json.js';
export { goQuote, goQuoteList, goLower, goTrimSpace, isGoSpace } from './gotext.js';
export { parseWords, parseWordPieces, parseNameVal, parseJsonArray, splitWhitespace, ERR_NOT_STRING_ARRAY } from './line-parsers.js';
export { splitCommand } from './split-command.js';
export { parseHeredocWord, heredocsFromLine, chompHeredocContent, shellWords } from './heredoc.js';
export { detectSyntax, parseDirective, parseDirectives, DirectiveParser } from './directives.js';
