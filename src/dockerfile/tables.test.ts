import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import {
  chompHeredocContent,
  detectSyntax,
  ERR_NOT_STRING_ARRAY,
  heredocsFromLine,
  parse,
  parseDirective,
  parseDirectives,
  parseHeredocWord,
  parseJsonArray,
  parseNameVal,
  parseWords,
} from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tables = path.resolve(repoRoot, '../shared/conformance/parser-tables');
const missing = existsSync(tables) ? '' : `parser tables not found at ${tables}`;
if (missing) console.warn('skipping parser tables: ' + missing);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- table JSON is loosely shaped
const load = (name: string): any => (missing ? {} : JSON.parse(readFileSync(path.join(tables, name), 'utf8')));

describe.skipIf(!!missing)('parser-tables/heredoc.json', () => {
  const t = load('heredoc.json');
  it('extract: every instruction carries exactly the expected heredocs', () => {
    const ast = parse(t.sets.extract.dockerfile);
    for (const c of t.sets.extract.expectedByInstruction) {
      const node = ast.instructions[c.index]!;
      const got = node.heredocs.map((h) => ({ name: h.name, fileDescriptor: h.fileDescriptor, expand: h.expand, chomp: h.chomp, content: h.content }));
      expect(got, `instruction ${c.index} (${c.instruction})`).toEqual(c.heredocs ?? []);
    }
  });
  it('extract: chomped bodies have their leading tabs removed', () => {
    const ast = parse(t.sets.extract.dockerfile);
    const unindent = ast.instructions.find((n) => n.heredocs[0]?.name === 'UNINDENT')!;
    expect(unindent.heredocs[0]!.body).toBe('baz\nquux\n');
  });
  it('jsonForm: exec form never has heredocs', () => {
    const ast = parse(t.sets.jsonForm.dockerfile);
    for (const i of t.sets.jsonForm.indexesWithoutHeredocs) {
      expect(ast.instructions[i]!.heredocs).toEqual([]);
      expect(ast.instructions[i]!.json).toBe(true);
    }
  });
  it.each(t.sets?.chomp?.cases ?? [])('chomp %#', (c: { input: string; expected: string }) => {
    expect(chompHeredocContent(c.input)).toBe(c.expected);
  });
  it('parseHeredocWord: valid openers', () => {
    for (const w of t.sets.parseHeredocWord.valid) expect(parseHeredocWord(w)?.name, w).toBe(t.sets.parseHeredocWord.validExpectedName);
  });
  it('parseHeredocWord: invalid openers are errors', () => {
    for (const w of t.sets.parseHeredocWord.invalid) expect(() => parseHeredocWord(w), w).toThrow();
  });
  it('parseHeredocWord: words that are not heredocs', () => {
    for (const w of t.sets.parseHeredocWord.notHeredoc) expect(parseHeredocWord(w), w).toBeNull();
  });
  it.each(t.sets?.heredocsFromLine?.cases ?? [])('heredocsFromLine $line', (c: { line: string; names: string[]; referenceReturns?: string[] }) => {
    expect(heredocsFromLine(c.line).map((h) => h.name)).toEqual(c.referenceReturns ?? c.names);
  });
});

describe.skipIf(!!missing)('parser-tables/helpers.json', () => {
  const t = load('helpers.json');
  it.each(t.sets?.jsonArrays?.valid ?? [])('JSON array $input', (c: { input: string; expected: string[] }) => {
    const r = parseJsonArray(c.input);
    expect(r.ok).toBe(true);
    expect(r.ok && r.pieces.map((p) => p.value)).toEqual(c.expected);
  });
  it.each(t.sets?.jsonArrays?.invalidNotStrings ?? [])('JSON array with a non-string %s is rejected', (input: string) => {
    expect(() => parseJsonArray(input)).toThrow(ERR_NOT_STRING_ARRAY);
  });
  it.each(t.sets?.parseWords?.cases ?? [])('parseWords $input', (c: { input: string; expected: string[] }) => {
    expect(parseWords(c.input)).toEqual(c.expected);
  });
  it.each(t.sets?.nameVal?.cases ?? [])('nameVal $instruction $input', (c: { instruction: string; input: string; nodes?: string[]; errorMessage?: string }) => {
    if (c.errorMessage) expect(() => parseNameVal(c.input, c.instruction)).toThrow(c.errorMessage);
    else expect(parseNameVal(c.input, c.instruction).map((p) => p.value)).toEqual(c.nodes);
  });
});

describe.skipIf(!!missing)('parser-tables/parse.json', () => {
  const t = load('parse.json');
  it('lineNumbers: instruction ranges span their continuation lines', () => {
    const s = t.sets.lineNumbers;
    const ast = parse(readFileSync(path.join(tables, s.dockerfile)));
    expect(ast.instructions).toHaveLength(s.childCount);
    expect(ast.instructions.map((n) => [n.range.start.line, n.range.end.line])).toEqual(s.children);
    expect(ast.instructions[0]!.range.start.line).toBe(s.startLine);
    expect(ast.instructions.at(-1)!.range.end.line).toBe(s.endLine);
  });
  it('emptyContinuationWarnings: one warning per instruction with a blank continuation line', () => {
    const s = t.sets.emptyContinuationWarnings;
    const ast = parse(s.dockerfile);
    expect(ast.warnings).toHaveLength(s.warningCount);
    s.shortContains.forEach((frags: string[], k: number) => {
      for (const f of frags) expect(ast.warnings[k]!.message).toContain(f);
    });
    expect(ast.warnings[0]!.hint).toContain(s.detailContains);
    expect(ast.warnings[0]!.severity).toBe('warning');
  });
  it('lineTooLong: more than 65535 bytes on a line is an error with the exact message', () => {
    const s = t.sets.lineTooLong;
    const text = s.dockerfileTemplate.replace('{VALUE}', s.valueChar.repeat(s.valueLength));
    expect(() => parse(text)).toThrow(s.errorMessage);
    try {
      parse(text);
    } catch (e) {
      expect((e as KilnError).code).toBe('PARSE_LINE_TOO_LONG');
      expect((e as KilnError).range?.start.line).toBe(3);
    }
  });
});

describe.skipIf(!!missing)('parser-tables/directives.json', () => {
  const t = load('directives.json');
  it.each(t.sets?.parseAll?.cases ?? [])('parseAll %#', (c: { input: string; expected: Array<{ name: string; value: string }> }) => {
    expect(parseDirectives(c.input).map(({ name, value }) => ({ name, value }))).toEqual(c.expected);
  });
  type DCase = { input?: string; inputBase64?: string; found: boolean; ref?: string; cmdline?: string; line?: number };
  const check = (got: ReturnType<typeof detectSyntax>, c: DCase): void => {
    expect(!!got).toBe(c.found);
    if (c.ref !== undefined) expect(got?.ref ?? '').toBe(c.ref);
    if (c.cmdline !== undefined) expect(got?.cmdline ?? '').toBe(c.cmdline);
    if (c.line !== undefined) expect(got?.line).toBe(c.line);
  };
  const input = (c: DCase): string => c.input ?? Buffer.from(c.inputBase64!, 'base64').toString('utf8');
  it.each(t.sets?.detectSyntax?.cases ?? [])('detectSyntax %#', (c: DCase) => check(detectSyntax(input(c)), c));
  it.each(t.sets?.parseDirective?.cases ?? [])('parseDirective(check) %#', (c: DCase) => check(parseDirective(t.sets.parseDirective.name, input(c)), c));
});
