/** Views of a build graph: a digest-keyed map for the solver, text and Graphviz for people. */
import type { BuildGraph, Vertex } from './types.js';

export function vertexMap(graph: BuildGraph): Map<string, Vertex> {
  return new Map(graph.vertices.map((v) => [v.digest, v]));
}

/** The 12 hex digits docker shows for ids. */
export function shortDigest(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

function opSummary(v: Vertex): string {
  const op = v.op;
  switch (op.kind) {
    case 'source':
      return `source ${op.source.kind}`;
    case 'exec':
      return `exec${op.mounts.length ? ` +${op.mounts.length} mount${op.mounts.length > 1 ? 's' : ''}` : ''}`;
    case 'file':
      return `file ${op.actions.map((a) => a.action).join(',')}`;
    case 'merge':
      return 'merge';
  }
}

/** One line per vertex, inputs first: `DIGEST  OP  NAME  <- INPUTS`. */
export function formatGraphText(graph: BuildGraph): string {
  const lines: string[] = [];
  const width = Math.max(4, ...graph.vertices.map((v) => opSummary(v).length));
  lines.push(`${'VERTEX'.padEnd(12)}  ${'OP'.padEnd(width)}  NAME`);
  for (const v of graph.vertices) {
    const inputs = v.inputs.length ? `  <- ${v.inputs.map(shortDigest).join(', ')}` : '';
    lines.push(`${shortDigest(v.digest)}  ${opSummary(v).padEnd(width)}  ${v.name}${inputs}`);
  }
  lines.push(`target: ${graph.target ? shortDigest(graph.target) : '(empty filesystem)'}`);
  return lines.join('\n');
}

function dotQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function formatGraphDot(graph: BuildGraph): string {
  const lines = ['digraph kiln {', '  rankdir=TB;', '  node [shape=box, fontname="monospace"];'];
  for (const v of graph.vertices) {
    const shape = v.op.kind === 'source' ? ', shape=ellipse' : '';
    const bold = v.digest === graph.target ? ', penwidth=2' : '';
    lines.push(`  ${dotQuote(shortDigest(v.digest))} [label=${dotQuote(`${v.name}\n${shortDigest(v.digest)}`)}${shape}${bold}];`);
  }
  for (const v of graph.vertices) {
    for (const i of v.inputs) lines.push(`  ${dotQuote(shortDigest(i))} -> ${dotQuote(shortDigest(v.digest))};`);
  }
  lines.push('}');
  return lines.join('\n');
}
