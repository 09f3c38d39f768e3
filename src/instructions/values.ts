/**
 * Value syntaxes shared by instruction parsing and the graph converter (which re-checks
 * values after variable expansion): Go durations, file modes, port specs, signals, sizes.
 * Each function returns the parsed value or throws a plain Error with BuildKit's wording;
 * callers attach the code and range.
 */

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(s: string): number {
  const orig = s;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration "${orig}"`);
  let total = 0;
  const re = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
  while (s !== '') {
    const m = re.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) throw new Error(`time: invalid duration "${orig}"`);
    const unit = UNIT_NS[m[3]!];
    if (unit === undefined) {
      if (/^[a-zµμ]+$/i.test(m[3]!)) throw new Error(`time: unknown unit "${m[3]}" in duration "${orig}"`);
      throw new Error(`time: invalid duration "${orig}"`);
    }
    const whole = m[1] === '' ? 0 : Number(m[1]);
    const frac = m[2] ? Number(`0.${m[2]}`) : 0;
    total += whole * unit + Math.round(frac * unit);
    s = s.slice(m[0].length);
  }
  if (!Number.isSafeInteger(total)) throw new Error(`time: invalid duration "${orig}"`);
  return neg ? -total : total;
}

/** Go's time.Duration.String(). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    let unit: string;
    let div: number;
    if (u < 1e3) {
      unit = 'ns';
      div = 1;
    } else if (u < 1e6) {
      unit = 'µs';
      div = 1e3;
    } else {
      unit = 'ms';
      div = 1e6;
    }
    out = trimFrac(u / div) + unit;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const s = trimFrac(u / 1e9) + 's';
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return (neg ? '-' : '') + out;
}

function trimFrac(n: number): string {
  return Number(n.toFixed(9)).toString();
}

/** `--chmod`: octal up to 07777, or a symbolic mode (`u+x`, `u=rwX,go=rX`, `a-w`). */
export function parseChmod(s: string): { kind: 'octal'; mode: number } | { kind: 'symbolic'; mode: string } {
  if (/^[0-7]+$/.test(s)) {
    const mode = parseInt(s, 8);
    if (mode > 0o7777) throw new Error(`invalid chmod parameter: '${s}'. it should be octal string and between 0 and 07777`);
    return { kind: 'octal', mode };
  }
  const clause = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;
  if (s !== '' && s.split(',').every((c) => clause.test(c))) return { kind: 'symbolic', mode: s };
  throw new Error(`invalid chmod parameter: '${s}'. it should be octal string and between 0 and 07777, or a symbolic mode like u+x or u=rwX,go=rX`);
}

/** strconv.ParseUint(s, base, 32) */
export function parseUint32(s: string, base: 8 | 10): number | undefined {
  if (s === '' || !(base === 8 ? /^[0-7]+$/ : /^[0-9]+$/).test(s)) return undefined;
  const n = parseInt(s, base);
  return n <= 0xffffffff ? n : undefined;
}

/** strconv.ParseBool */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** docker/go-units RAMInBytes: `64m`, `1g`, `512k`, `100` (bytes), binary multiples. */
export function parseRamInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp])?(i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  const unit = m[2] ? mult[m[2].toLowerCase()]! : 1;
  return Math.floor(Number(m[1]) * unit);
}

export interface PortSpec {
  /** `80/tcp` keys as they appear in ExposedPorts */
  keys: string[];
}

/**
 * docker/go-connections nat.ParsePortSpec for one EXPOSE word: `80`, `80/udp`, `8000-8010`,
 * `ip:hostPort:containerPort[/proto]` (the host part is accepted and ignored, as Docker does).
 */
export function parsePortSpec(raw: string): string[] {
  let spec = raw;
  let proto = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash !== -1) {
    proto = spec.slice(slash + 1).toLowerCase();
    spec = spec.slice(0, slash);
    if (proto === '') throw new Error(`invalid proto: ${raw}`);
  }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  // strip an optional ip and host port: the container port is the last colon field
  const colon = spec.lastIndexOf(':');
  const container = colon === -1 ? spec : spec.slice(colon + 1);
  if (container === '') throw new Error(`no port specified: ${raw}<empty>`);
  const m = /^(\d+)(?:-(\d+))?$/.exec(container);
  if (!m) throw new Error(`invalid containerPort: ${container}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535) throw new Error(`invalid containerPort: ${container}`);
  if (end < start) throw new Error(`invalid range specified for container port: ${container}`);
  if (end - start > 65535) throw new Error(`invalid containerPort: ${container}`);
  const keys: string[] = [];
  for (let p = start; p <= end; p++) keys.push(`${p}/${proto}`);
  return keys;
}

const SIGNALS = [
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL',
  'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'UNUSED', 'URG',
  'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
];

/** moby/sys/signal.ParseSignal (Linux table): a number, or a name with or without SIG. */
export function parseSignal(raw: string): void {
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n === 0 || !Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new Error(`Invalid signal: ${raw}`);
    return;
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.includes(name)) return;
  const rt = /^RTM(IN|AX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const off = rt[2] ? Number(rt[2]) : 0;
    if ((rt[1] === 'IN' && off >= 0 && off <= 15) || (rt[1] === 'AX' && off <= 0 && off >= -14)) return;
  }
  throw new Error(`Invalid signal: ${raw}`);
}

/** opencontainers/go-digest Parse, for ADD --checksum. */
export function parseChecksum(raw: string): void {
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(raw);
  if (!m) throw new Error(`invalid checksum digest format: ${raw}`);
  const len: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  const want = len[m[1]!];
  if (want === undefined) throw new Error(`unsupported digest algorithm: ${m[1]}`);
  if (m[2]!.length !== want || !/^[a-f0-9]+$/.test(m[2]!)) throw new Error(`invalid checksum digest length or characters: ${raw}`);
}
