/** Platforms as containerd's `platforms` package parses, normalises and formats them. */
import type { Platform } from '../image/types.js';

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' };

export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  let arch = (p.architecture ?? '').toLowerCase();
  let variant = p.variant?.toLowerCase();
  arch = ARCH_ALIASES[arch] ?? arch;
  if (p.architecture === 'armhf') variant = 'v7';
  if (p.architecture === 'armel') variant = 'v6';
  if (arch === 'amd64' && (variant === 'v1' || variant === '')) variant = undefined;
  if (arch === 'arm64' && (variant === '8' || variant === 'v8' || variant === '')) variant = undefined;
  if (arch === 'arm') {
    if (variant === undefined || variant === '' || variant === '7') variant = 'v7';
    else if (/^\d$/.test(variant)) variant = `v${variant}`;
  }
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  return out;
}

/** `linux/amd64`, `linux/arm/v7`, `linux` (arch from this machine), `arm64` (os linux). */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (s === '' || parts.length > 3 || parts.some((x) => x === '' || !/^[A-Za-z0-9_.-]+$/.test(x))) {
    throw new Error(`"${s}": unknown operating system or architecture: invalid argument`);
  }
  let p: Platform;
  if (parts.length === 1) {
    const known = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'android', 'ios', 'plan9', 'aix', 'js', 'wasip1'];
    if (known.includes(parts[0]!.toLowerCase())) p = { os: parts[0]!, architecture: hostPlatform().architecture };
    else p = { os: 'linux', architecture: parts[0]! };
  } else {
    p = { os: parts[0]!, architecture: parts[1]! };
    if (parts[2]) p.variant = parts[2];
  }
  return normalizePlatform(p);
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/** This machine, as Go names it (node `x64` -> `amd64`). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalizePlatform({ os: 'linux', architecture: arch[process.arch] ?? process.arch });
}
