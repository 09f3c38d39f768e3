/** `kiln image inspect` output: docker's ImageInspect shape, plus the OCI bits kiln keeps. */
import { isDigest } from './digest.js';
import { parseReference } from './reference.js';
import type { ResolvedImage } from './store.js';

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: Record<string, unknown>;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  History: unknown[];
  Descriptor: { mediaType: string; digest: string; size: number };
  Metadata: { LastTagTime: string };
}

export function imageInspect(img: ResolvedImage, size: number, lastTagTime?: string): ImageInspect {
  const c = img.config.config ?? {};
  const repoTags: string[] = [];
  const repoDigests = new Set<string>();
  for (const n of img.names) {
    if (isDigest(n)) continue;
    const ref = parseReference(n, { defaultTag: false });
    if (ref.tag !== undefined) repoTags.push(`${ref.familiarName()}:${ref.tag}`);
    repoDigests.add(`${ref.familiarName()}@${ref.digest ?? img.target.digest}`);
  }
  const history = img.config.history ?? [];
  const comment = history.length > 0 ? (history[history.length - 1]!.comment ?? '') : '';
  const out: ImageInspect = {
    Id: img.id,
    RepoTags: repoTags,
    RepoDigests: [...repoDigests],
    Parent: '',
    Comment: comment,
    Created: img.config.created ?? '0001-01-01T00:00:00Z',
    DockerVersion: '',
    Author: img.config.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.ExposedPorts ?? null,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Healthcheck: c.Healthcheck ?? null,
      ArgsEscaped: c.ArgsEscaped ?? false,
      Image: '',
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ?? null,
      StopSignal: c.StopSignal ?? null,
      Shell: c.Shell ?? null,
    },
    Architecture: img.config.architecture,
    Os: img.config.os,
    Size: size,
    RootFS: { Type: img.config.rootfs.type, Layers: [...img.config.rootfs.diff_ids] },
    History: history,
    Descriptor: { mediaType: img.target.mediaType, digest: img.target.digest, size: img.target.size },
    Metadata: { LastTagTime: lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
  if (img.config.variant) out.Variant = img.config.variant;
  return out;
}

/**
 * A small subset of Go templates for `--format`: `{{.A.B}}`, `{{json .A}}`, `{{index .A "k"}}`,
 * `{{join .A " "}}`. Anything else is a usage error raised by the caller.
 */
export function renderTemplate(tpl: string, data: unknown): string {
  return tpl.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    const parts = expr.match(/"[^"]*"|\S+/g) ?? [];
    const get = (p: string): unknown => {
      if (p === '.') return data;
      if (!p.startsWith('.')) throw new Error(`unsupported template expression "${expr}"`);
      let v: unknown = data;
      for (const k of p.slice(1).split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
      return v;
    };
    const show = (v: unknown): string => {
      if (v === undefined || v === null) return '<no value>';
      if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
      if (typeof v === 'object') return `map[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
      return String(v);
    };
    const [fn, ...args] = parts;
    if (fn === 'json' && args.length === 1) return JSON.stringify(get(args[0]!) ?? null);
    if (fn === 'index' && args.length === 2) {
      const obj = get(args[0]!);
      const key = args[1]!.replace(/^"|"$/g, '');
      return show(obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined);
    }
    if (fn === 'join' && args.length === 2) {
      const arr = get(args[0]!);
      return Array.isArray(arr) ? arr.map(String).join(args[1]!.replace(/^"|"$/g, '')) : '';
    }
    if (fn !== undefined && args.length === 0) return show(get(fn));
    throw new Error(`unsupported template expression "${expr}"`);
  });
}
