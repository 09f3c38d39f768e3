import type { Heredoc } from '../dockerfile/types.js';
import type { HeredocFile } from './types.js';

/** BuildKit's MustParseHeredoc: is this word a here-document opener (`<<EOF`, `<<-"EOF"`, `3<<EOF`)? */
export function heredocName(word: string): { name: string; chomp: boolean } | undefined {
  const m = /^(\d*)<<(-?)\s*(\S+)$/.exec(word);
  if (!m) return undefined;
  let name = m[3]!;
  // quotes anywhere in the delimiter word are removed (POSIX)
  name = name.replace(/(["'])(.*?)\1/g, '$2');
  if (name === '') return undefined;
  return { name, chomp: m[2] === '-' };
}

export function toHeredocFile(h: Heredoc): HeredocFile {
  return { name: h.name, data: h.body, expand: h.expand, chomp: h.chomp, fileDescriptor: h.fileDescriptor, range: h.range };
}
