/** One convertXxx per instruction (BuildKit's dispatch type switch). */
import { convertCopy } from './convert-copy.js';
import {
  convertArg, convertCmd, convertEntrypoint, convertEnv, convertExpose, convertHealthcheck, convertLabel, convertMaintainer,
  convertOnbuild, convertShell, convertStopSignal, convertUser, convertVolume,
} from './convert-meta.js';
import { convertRun } from './convert-run.js';
import { convertWorkdir } from './convert-workdir.js';
import type { ConvertContext, DispatchCommand, DispatchState } from './internal.js';

export function dispatchCommand(ctx: ConvertContext, d: DispatchState, cmd: DispatchCommand): void {
  const inst = cmd.inst;
  switch (inst.kind) {
    case 'arg':
      return convertArg(ctx, d, inst);
    case 'env':
      return convertEnv(ctx, d, inst);
    case 'label':
      return convertLabel(ctx, d, inst);
    case 'run':
      return convertRun(ctx, d, inst, cmd.sources);
    case 'copy':
    case 'add':
      return convertCopy(ctx, d, inst, cmd.sources[0]);
    case 'workdir':
      return convertWorkdir(ctx, d, inst);
    case 'user':
      return convertUser(ctx, d, inst);
    case 'cmd':
      return convertCmd(ctx, d, inst);
    case 'entrypoint':
      return convertEntrypoint(ctx, d, inst);
    case 'shell':
      return convertShell(ctx, d, inst);
    case 'healthcheck':
      return convertHealthcheck(ctx, d, inst);
    case 'expose':
      return convertExpose(ctx, d, inst);
    case 'volume':
      return convertVolume(ctx, d, inst);
    case 'stopsignal':
      return convertStopSignal(ctx, d, inst);
    case 'maintainer':
      return convertMaintainer(ctx, d, inst);
    case 'onbuild':
      return convertOnbuild(ctx, d, inst);
  }
}
