/** The one-value instructions: WORKDIR, USER, MAINTAINER, STOPSIGNAL, and the lists VOLUME, EXPOSE. */
import { errAtLeastOneArgument, errExactlyOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type {
  ExposeInstruction, Located, MaintainerInstruction, StopSignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
} from './types.js';
import { parsePortSpec, parseSignal } from './values.js';

function exactlyOne(req: ParseRequest): Located {
  parseFlags(req.name, req.node.flags, {});
  const args = req.node.args;
  if (args.length !== 1 || args[0]!.value === '') {
    throw errExactlyOneArgument(req.name, args[1]?.range ?? req.node.range, args.length === 1 ? 0 : args.length);
  }
  return { value: args[0]!.value, range: args[0]!.range };
}

export function parseWorkdir(req: ParseRequest): WorkdirInstruction {
  return { ...req.base('workdir'), path: exactlyOne(req) };
}

export function parseUser(req: ParseRequest): UserInstruction {
  return { ...req.base('user'), user: exactlyOne(req) };
}

export function parseMaintainer(req: ParseRequest): MaintainerInstruction {
  return { ...req.base('maintainer'), maintainer: exactlyOne(req).value };
}

export function checkSignal(sig: Located): void {
  try {
    parseSignal(sig.value);
  } catch (err) {
    throw instrError(InstrCode.Signal, (err as Error).message, sig.range, 'use a signal name like SIGTERM, SIGINT or SIGQUIT, or its number');
  }
}

export function parseStopSignal(req: ParseRequest): StopSignalInstruction {
  const signal = exactlyOne(req);
  if (!signal.value.includes('$')) checkSignal(signal);
  return { ...req.base('stopsignal'), signal };
}

export function parseVolume(req: ParseRequest): VolumeInstruction {
  parseFlags('VOLUME', req.node.flags, {});
  if (req.node.args.length === 0) throw errAtLeastOneArgument('VOLUME', req.node.range);
  const volumes = req.node.args.map((a) => {
    const v = a.value.trim();
    if (v === '') throw instrError(InstrCode.EmptyValue, 'VOLUME specified can not be an empty string', a.range);
    return { value: v, range: a.range };
  });
  return { ...req.base('volume'), volumes };
}

export function checkPort(p: Located): string[] {
  try {
    return parsePortSpec(p.value);
  } catch (err) {
    throw instrError(InstrCode.Port, (err as Error).message, p.range, 'write EXPOSE <port>[/tcp|/udp|/sctp] or a range like 8000-8010/tcp');
  }
}

export function parseExpose(req: ParseRequest): ExposeInstruction {
  parseFlags('EXPOSE', req.node.flags, {});
  if (req.node.args.length === 0) throw errAtLeastOneArgument('EXPOSE', req.node.range);
  const ports = req.node.args.map((a) => ({ value: a.value, range: a.range }));
  for (const p of ports) if (!p.value.includes('$')) checkPort(p);
  ports.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return { ...req.base('expose'), ports };
}
