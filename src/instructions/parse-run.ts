import { InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import { MountSyntaxError, parseMount } from './mount.js';
import type { ParseRequest } from './request.js';
import { toHeredocFile } from './heredoc.js';
import type { NetworkMode, RunDevice, RunInstruction, RunMount, SecurityMode } from './types.js';
import { suggest } from './suggest.js';
import { parseGoBool } from './values.js';

const NETWORKS: readonly NetworkMode[] = ['default', 'none', 'host'];
const SECURITY: readonly SecurityMode[] = ['sandbox', 'insecure'];

export const RUN_FLAGS = { mount: 'strings', network: 'string', security: 'string', device: 'strings' } as const;

export function parseRun(req: ParseRequest): RunInstruction {
  const { node } = req;
  const flags = parseFlags('RUN', node.flags, RUN_FLAGS);
  const mountFlags = flags.lists.get('mount') ?? [];
  const mounts: RunMount[] = mountFlags.map((f) => {
    try {
      return parseMount(f.value);
    } catch (err) {
      if (err instanceof MountSyntaxError) throw instrError(InstrCode.Mount, err.message, f.range, err.hint);
      throw err;
    }
  });
  const out: RunInstruction = {
    ...req.base('run'),
    cmd: node.args.map((a) => a.value),
    prependShell: !node.json,
    heredocs: node.heredocs.map(toHeredocFile),
    mounts,
    mountFlags,
    devices: [],
  };
  if (out.cmd.length === 0 && out.heredocs.length === 0) {
    throw instrError(InstrCode.MissingArgument, 'RUN requires at least one argument', node.range, 'write RUN <command> or RUN ["executable", "arg"...]');
  }
  const network = flags.strings.get('network');
  if (network) {
    if (!NETWORKS.includes(network.value as NetworkMode)) {
      const close = suggest(network.value, NETWORKS);
      throw instrError(InstrCode.Network, `unsupported network mode "${network.value}"`, network.range, `${close ? `did you mean ${close}? ` : ''}valid modes: ${NETWORKS.join(', ')}`);
    }
    out.network = network.value as NetworkMode;
  }
  const security = flags.strings.get('security');
  if (security) {
    if (!SECURITY.includes(security.value as SecurityMode)) {
      throw instrError(InstrCode.Security, `unsupported security mode "${security.value}"`, security.range, `valid modes: ${SECURITY.join(', ')}`);
    }
    out.security = security.value as SecurityMode;
  }
  for (const d of flags.lists.get('device') ?? []) out.devices.push(parseDevice(d.value, d.range));
  return out;
}

/** `--device=name[,required[=bool]]` */
function parseDevice(value: string, range: RunInstruction['range']): RunDevice {
  const [name, ...opts] = value.split(',');
  if (!name) throw instrError(InstrCode.Device, `invalid device: "${value}"`, range);
  const dev: RunDevice = { name, required: false };
  for (const o of opts) {
    const [k, v] = o.split('=', 2) as [string, string | undefined];
    if (k !== 'required') throw instrError(InstrCode.Device, `unexpected key '${k}' in '${o}'`, range, 'valid keys: required');
    const b = v === undefined ? true : parseGoBool(v);
    if (b === undefined) throw instrError(InstrCode.Device, `invalid value for required: ${v}`, range);
    dev.required = b;
  }
  return dev;
}
