import type { Descriptor, Platform } from '../image/types.js';
import { RegistryError } from './errors.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform kiln runs on, in OCI terms (linux/amd64 on x86-64). */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: ARCH[process.arch] ?? process.arch };
}

/** Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`); `arch` alone means linux. */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().toLowerCase().split('/');
  if (parts.some((p) => !/^[a-z0-9._-]+$/.test(p)) || parts.length > 3) {
    throw new RegistryError('REGISTRY_BAD_PLATFORM', `invalid platform "${value}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  const [a, b, c] = parts as [string, string?, string?];
  const p: Platform = b === undefined ? { os: 'linux', architecture: a } : { os: a, architecture: b };
  if (p.architecture === 'x86_64' || p.architecture === 'x86-64') p.architecture = 'amd64';
  if (p.architecture === 'aarch64') p.architecture = 'arm64';
  if (c) p.variant = c;
  return p;
}

export const formatPlatform = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

function normVariant(arch: string, variant: string | undefined): string | undefined {
  if (arch === 'arm64') return variant === undefined || variant === 'v8' ? 'v8' : variant;
  if (arch === 'arm') return variant ?? 'v7';
  return variant;
}

/** Whether an entry's platform satisfies the wanted one (variant only compared when wanted or implied). */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  const wv = normVariant(want.architecture, want.variant);
  if (wv === undefined) return true;
  return wv === normVariant(have.architecture, have.variant);
}

/** Pick the index entry for `want`: the first match, like containerd's platform matcher (attestations skipped). */
export function selectManifest(manifests: Descriptor[], want: Platform): Descriptor {
  const candidates = manifests.filter(
    (d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && platformMatches(want, d.platform),
  );
  if (candidates.length === 0) {
    const available = manifests.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform!));
    throw new RegistryError('REGISTRY_NO_PLATFORM', `no image for platform ${formatPlatform(want)} in the manifest list`, {
      hint: available.length ? `available: ${[...new Set(available)].join(', ')} (use --platform)` : 'the index lists no platforms',
    });
  }
  return candidates[0]!;
}
