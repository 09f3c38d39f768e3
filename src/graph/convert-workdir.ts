import type { WorkdirInstruction } from '../instructions/types.js';
import { Inputs } from './builder.js';
import {
  commandText, commitToHistory, type ConvertContext, type DispatchState, displayExpand, expandWord, meta, ownerOf, prefixCommand, stateEnv,
  uppercaseCmd,
} from './internal.js';
import { normalizeWorkdir } from './paths.js';
import type { MkdirAction } from './types.js';

/** WORKDIR sets the directory and, as BuildKit does, creates it (mkdir -p, owned by USER). */
export function convertWorkdir(ctx: ConvertContext, d: DispatchState, c: WorkdirInstruction): void {
  const requested = expandWord(ctx, stateEnv(d), c.path);
  const wd = normalizeWorkdir(d.image.config?.WorkingDir ?? '', requested);
  (d.image.config ??= {}).WorkingDir = wd;
  d.state = { ...d.state, dir: wd };
  if (wd === '/') {
    commitToHistory(d, `WORKDIR ${wd}`, false);
    return;
  }
  const inputs = new Inputs();
  const base = inputs.ref(d.state.root);
  const mkdir: MkdirAction = { action: 'mkdir', path: wd, mode: 0o755, makeParents: true };
  const user = d.image.config?.User;
  if (user) mkdir.owner = ownerOf(user);
  const name = prefixCommand(d, uppercaseCmd(displayExpand(ctx, d, commandText(c), false)));
  const root = ctx.builder.add({ kind: 'file', base, actions: [mkdir], platform: d.state.platform }, inputs.list, name, [c.range], meta(ctx, d, c));
  d.state = { ...d.state, root };
  commitToHistory(d, `WORKDIR ${wd}`, true);
}
