import { errAtLeastOneArgument, InstrCode, instrError } from './errors.js';
import { parseFlags } from './flags.js';
import type { ParseRequest } from './request.js';
import type { HealthcheckInstruction, HealthcheckSpec, Located } from './types.js';
import { formatGoDuration, parseGoDuration } from './values.js';

const MIN_DURATION = 1e6; // container.MinimumDuration: 1ms

function interval(f: Located | undefined, name: string): number {
  if (!f || f.value === '') return 0;
  let d: number;
  try {
    d = parseGoDuration(f.value);
  } catch (err) {
    throw instrError(InstrCode.Duration, (err as Error).message, f.range, 'durations look like 30s, 1m30s or 500ms');
  }
  if (d === 0) return 0;
  if (d < MIN_DURATION) {
    throw instrError(InstrCode.Duration, `Interval "${name}" cannot be less than ${formatGoDuration(MIN_DURATION)}`, f.range);
  }
  return d;
}

export function parseHealthcheck(req: ParseRequest): HealthcheckInstruction {
  const { node } = req;
  if (node.args.length === 0) throw errAtLeastOneArgument('HEALTHCHECK', node.range);
  const typ = node.args[0]!.value.toUpperCase();
  const rest = node.args.slice(1);
  const health: HealthcheckSpec = { test: [], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (typ === 'NONE') {
    if (rest.length !== 0) throw instrError(InstrCode.Healthcheck, 'HEALTHCHECK NONE takes no arguments', rest[0]!.range);
    health.test = ['NONE'];
    return { ...req.base('healthcheck'), health };
  }
  const flags = parseFlags('HEALTHCHECK', node.flags, {
    interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string',
  });
  if (typ !== 'CMD') {
    throw instrError(InstrCode.Healthcheck, `Unknown type "${typ}" in HEALTHCHECK (try CMD)`, node.args[0]!.range, 'write HEALTHCHECK [options] CMD <command> or HEALTHCHECK NONE');
  }
  const cmd = rest.map((a) => a.value);
  if (cmd.length === 0) throw instrError(InstrCode.Healthcheck, 'Missing command after HEALTHCHECK CMD', node.args[0]!.range);
  health.test = [node.json ? 'CMD' : 'CMD-SHELL', ...cmd];
  health.interval = interval(flags.strings.get('interval'), 'interval');
  health.timeout = interval(flags.strings.get('timeout'), 'timeout');
  health.startPeriod = interval(flags.strings.get('start-period'), 'start-period');
  health.startInterval = interval(flags.strings.get('start-interval'), 'start-interval');
  const retries = flags.strings.get('retries');
  if (retries && retries.value !== '') {
    if (!/^[+-]?\d+$/.test(retries.value) || Math.abs(Number(retries.value)) > 2 ** 31 - 1) {
      throw instrError(InstrCode.FlagValue, `strconv.ParseInt: parsing "${retries.value}": invalid syntax`, retries.range, '--retries takes a whole number');
    }
    const n = Number(retries.value);
    if (n < 0) throw instrError(InstrCode.FlagValue, `--retries cannot be negative (${n})`, retries.range);
    health.retries = n;
  }
  return { ...req.base('healthcheck'), health };
}
