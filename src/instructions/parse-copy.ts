import { errNoDestination, InstrCode, instrError } from './errors.js';
import { parseFlags, type FlagSpecs } from './flags.js';
import { heredocName, toHeredocFile } from './heredoc.js';
import type { ParseRequest } from './request.js';
import type { CopyInstruction, HeredocFile, Located } from './types.js';
import { parseChecksum, parseChmod } from './values.js';

const COPY_FLAGS: FlagSpecs = { chown: 'string', chmod: 'string', from: 'string', link: 'bool', parents: 'bool', exclude: 'strings' };
const ADD_FLAGS: FlagSpecs = {
  chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', exclude: 'strings', unpack: 'bool',
};

/**
 * True when a destination names a directory: ends in `/` (or is `.`, `..`, `/.`), or in `\\` as
 * Windows Dockerfiles write it.
 */
export function isDirectoryDest(dest: string): boolean {
  return /(?:^|[/\\])\.{0,2}$/.test(dest) || dest.endsWith('\\');
}

export function parseCopy(req: ParseRequest): CopyInstruction {
  const { node } = req;
  const isAdd = req.name === 'ADD';
  const flags = parseFlags(req.name, node.flags, isAdd ? ADD_FLAGS : COPY_FLAGS);
  if (node.args.length < 2) throw errNoDestination(req.name, node.args[0]?.range ?? node.range);
  const destArg = node.args[node.args.length - 1]!;
  if (!node.json && heredocName(destArg.value)) {
    throw instrError(InstrCode.Heredoc, `${req.name} cannot accept a heredoc as a destination`, destArg.range);
  }
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: Located[] = [];
  const contents: HeredocFile[] = [];
  for (const a of node.args.slice(0, -1)) {
    const h = node.json ? undefined : heredocName(a.value);
    const doc = h && byName.get(h.name);
    if (h && doc) contents.push({ ...toHeredocFile(doc), range: a.range });
    else sources.push({ value: a.value, range: a.range });
  }
  const out: CopyInstruction = {
    ...req.base(isAdd ? 'add' : 'copy'),
    sources,
    contents,
    dest: { value: destArg.value, range: destArg.range },
    link: flags.bools.get('link')?.value ?? false,
    parents: flags.bools.get('parents')?.value ?? false,
    exclude: flags.lists.get('exclude') ?? [],
    keepGitDir: flags.bools.get('keep-git-dir')?.value ?? false,
  };
  const from = flags.strings.get('from');
  if (from) {
    if (from.value === '') throw instrError(InstrCode.FlagValue, 'COPY --from requires a stage name, index or image', from.range);
    out.from = from;
  }
  const chown = flags.strings.get('chown');
  if (chown) {
    checkChown(chown, out.link);
    out.chown = chown;
  }
  const chmod = flags.strings.get('chmod');
  if (chmod) {
    if (!chmod.value.includes('$')) checkChmod(chmod);
    out.chmod = chmod;
  }
  const checksum = flags.strings.get('checksum');
  if (checksum) {
    if (!checksum.value.includes('$')) checkChecksum(checksum);
    out.checksum = checksum;
  }
  const unpack = flags.bools.get('unpack');
  if (unpack) out.unpack = unpack.value;
  if (!out.dest.value.includes('$')) checkDestForSources(req.name, out.dest, sources.length + contents.length);
  return out;
}

export function checkChmod(chmod: Located): void {
  try {
    parseChmod(chmod.value);
  } catch (err) {
    throw instrError(InstrCode.Chmod, (err as Error).message, chmod.range, 'e.g. --chmod=0755 or --chmod=u=rwX,go=rX');
  }
}

export function checkChecksum(checksum: Located): void {
  try {
    parseChecksum(checksum.value);
  } catch (err) {
    throw instrError(InstrCode.Checksum, (err as Error).message, checksum.range, 'write --checksum=sha256:<64 hex digits>');
  }
}

/**
 * `--chown=user[:group]` (either part may be empty, as BuildKit allows: `:staff`); with `--link`
 * only numeric ids can work (names need the target's /etc/passwd).
 */
export function checkChown(chown: Located, link: boolean): void {
  const v = chown.value;
  if (v.includes('$')) return;
  const parts = v.split(':');
  if (parts.length > 2) {
    throw instrError(InstrCode.Chown, `invalid --chown value "${v}"`, chown.range, 'write --chown=<user>[:<group>] with names or numeric ids');
  }
  if (link && parts.some((p) => p !== '' && !/^\d+$/.test(p))) {
    throw instrError(
      InstrCode.Chown,
      `--chown with --link requires numeric ids, got "${v}"`,
      chown.range,
      'with --link the layer is built without the base filesystem, so user and group names cannot be looked up',
    );
  }
}

export function checkDestForSources(name: string, dest: Located, count: number): void {
  if (count > 1 && !isDirectoryDest(dest.value)) {
    throw instrError(
      InstrCode.CopyDestNotDir,
      `When using ${name} with more than one source file, the destination must be a directory and end with a /`,
      dest.range,
      `write "${dest.value}/"`,
    );
  }
}
