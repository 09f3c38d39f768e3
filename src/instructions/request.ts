import type { InstructionNode } from '../dockerfile/types.js';
import type { Instruction } from './types.js';

/** What every parseXxx gets: the node plus a helper for the fields all instructions share. */
export interface ParseRequest {
  node: InstructionNode;
  /** Upper-cased keyword, for messages. */
  name: string;
  base<K extends Instruction['kind']>(kind: K): { kind: K; range: InstructionNode['range']; keyword: string; original: string; node: InstructionNode };
}

export function newParseRequest(node: InstructionNode): ParseRequest {
  return {
    node,
    name: node.keyword.toUpperCase(),
    base: (kind) => ({ kind, range: node.range, keyword: node.keyword, original: node.original, node }),
  };
}
