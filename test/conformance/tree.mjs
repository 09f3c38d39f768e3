// The one description of a root filesystem and an image config that both sides of the
// conformance suite use: scripts/record-buildkit.mjs (BuildKit, through docker export) and
// buildkit.test.ts (kiln, through `kiln build -o type=local`). Plain JS so the recording script
// runs with node alone; types in tree.d.mts.
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Files in a case directory that describe the case and are not part of its build context. */
export const META_FILES = ['expected.json', 'case.json'];

/**
 * One line per path, relative to the root and starting with `/`:
 *   `dir 0755 0:0`, `file 0644 0:0 <size> <sha256>`, `symlink 0777 0:0 -> <target>`,
 *   `fifo|char|block|socket <mode> <uid>:<gid>`.
 * Times are not recorded (they legitimately differ); directory sizes depend on the filesystem.
 */
export function describeTree(root) {
  const out = {};
  const walk = (dir, rel) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const p = `${rel}/${name}`;
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      const own = `${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[p] = `symlink ${mode} ${own} -> ${readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[p] = `dir ${mode} ${own}`;
        walk(abs, p);
      } else if (st.isFile()) {
        const hash = createHash('sha256').update(readFileSync(abs)).digest('hex');
        out[p] = `file ${mode} ${own} ${st.size} ${hash}`;
      } else {
        const kind = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'socket';
        out[p] = `${kind} ${mode} ${own}`;
      }
    }
  };
  walk(root, '');
  return out;
}

const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'];

/**
 * The parts of an OCI/Docker image config (the raw JSON blob) that the suite compares. Absent,
 * null and empty-string fields are all left out: Docker writes `"WorkingDir": ""` and `null`
 * where kiln may omit the key, and neither changes what a container gets.
 */
export function describeConfig(raw) {
  const c = raw.config ?? {};
  const config = {};
  for (const k of CONFIG_FIELDS) {
    const v = c[k];
    if (v === undefined || v === null || v === '') continue;
    config[k] = v;
  }
  const out = { config };
  if (raw.author) out.author = raw.author;
  out.architecture = raw.architecture;
  out.os = raw.os;
  out.layers = (raw.rootfs?.diff_ids ?? []).length;
  out.history = (raw.history ?? []).map((h) => ({ created_by: h.created_by ?? '', ...(h.empty_layer ? { empty_layer: true } : {}) }));
  return out;
}

/** Copy a case directory to `dest` as its build context (without META_FILES; symlinks as they are). */
export function stageContext(caseDir, dest) {
  cpSync(caseDir, dest, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: (src) => !(path.dirname(src) === caseDir && META_FILES.includes(path.basename(src))),
  });
}

/** The case's options: { buildArgs, target, secrets: {id: value}, platform, handWritten }. */
export function readCaseOptions(caseDir) {
  try {
    return JSON.parse(readFileSync(path.join(caseDir, 'case.json'), 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return {};
    throw err;
  }
}

/**
 * The build flags a case's options ask for (--target, --platform, --build-arg, --secret), the same
 * for `docker build` when recording and `kiln build` when testing. Secrets are written to files
 * in `secretDir`.
 */
export function caseBuildFlags(opts, secretDir) {
  const args = [];
  if (opts.target) args.push('--target', opts.target);
  if (opts.platform) args.push('--platform', opts.platform);
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push('--build-arg', v === null ? k : `${k}=${v}`);
  for (const [id, value] of Object.entries(opts.secrets ?? {})) {
    const f = path.join(secretDir, `secret-${id}`);
    writeFileSync(f, value, { mode: 0o600 });
    args.push('--secret', `id=${id},src=${f}`);
  }
  return args;
}

/** JSON with one path per line, so recordings diff well in review. */
export function formatExpected(expected) {
  const { fs: tree, ...rest } = expected;
  const head = JSON.stringify(rest, null, 2).replace(/\n}$/, '');
  if (!tree) return `${head}\n}\n`;
  const lines = Object.entries(tree).map(([p, v]) => `    ${JSON.stringify(p)}: ${JSON.stringify(v)}`);
  return `${head},\n  "fs": {\n${lines.join(',\n')}\n  }\n}\n`;
}
