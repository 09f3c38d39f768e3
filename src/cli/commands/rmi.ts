import type { Command } from 'commander';
import { FailedPreconditionError, KilnError } from '../../diagnostics/errors.js';
import { isDigest, shortId } from '../../image/digest.js';
import { parseReference } from '../../image/reference.js';
import { imageUsers } from '../../store/container-roots.js';
import { collectGarbage } from '../../store/gc.js';
import { openStores, type Stores } from '../../store/index.js';
import type { CliContext } from '../context.js';
import { reportError } from '../main.js';

/** docker rmi semantics: a name untags (and deletes when it was the last name); an ID deletes the image. */
export async function removeImage(s: Stores, q: string, force: boolean): Promise<string[]> {
  const out: string[] = [];
  const { record, by } = await s.images.find(q);
  const img = await s.images.loadTarget(record.target);
  const named = img.names;
  if (by === 'name' && named.length > 1) {
    await s.images.untag(record.name);
    out.push(`Untagged: ${parseReference(record.name, { defaultTag: false }).familiar()}`);
    return out;
  }
  if (by === 'id' && named.length > 1 && !force) {
    throw new FailedPreconditionError(
      `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`,
      { code: 'IMAGE_IN_USE', hint: 'remove the tags one by one, or use -f' },
    );
  }
  const users = (await imageUsers(s.root)).get(record.target.digest);
  if (users && users.length > 0) {
    if (!force) {
      throw new FailedPreconditionError(
        `conflict: unable to ${by === 'name' ? `remove repository reference "${q}"` : `delete ${shortId(img.id)}`} (must force) - container ${users[0]} is using its referenced image ${shortId(img.id)}`,
        { code: 'IMAGE_IN_USE', hint: 'remove the container first (kiln rm), or use -f to untag it anyway' },
      );
    }
    // forced: the names go, the image stays (dangling) for the containers that use it
    for (const n of named) {
      await s.images.untag(n);
      out.push(`Untagged: ${parseReference(n, { defaultTag: false }).familiar()}`);
    }
    await s.images.addDangling(record.target);
    return out;
  }
  // the image goes: every record of this image ID (named, dangling, other manifest formats)
  const keys: string[] = [];
  for (const r of await s.images.list()) {
    if (r.target.digest === record.target.digest) keys.push(r.name);
    else if ((await s.images.imageId(r.target).catch(() => undefined)) === img.id && (by === 'id' || isDigest(r.name))) keys.push(r.name);
  }
  await s.images.removeRecords(keys);
  for (const k of keys.sort()) if (!isDigest(k)) out.push(`Untagged: ${parseReference(k, { defaultTag: false }).familiar()}`);
  out.push(`Deleted: ${img.id}`);
  return out;
}

export async function rmiAction(ctx: CliContext, names: string[], opts: { force?: boolean }): Promise<void> {
  const s = await openStores(ctx.root());
  let failed = false;
  let deleted = false;
  for (const n of names) {
    try {
      for (const line of await removeImage(s, n, !!opts.force)) {
        ctx.stdout.write(`${line}\n`);
        if (line.startsWith('Deleted:')) deleted = true;
      }
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      reportError(err, ctx);
      failed = true;
    }
  }
  if (deleted) {
    // free the blobs only the deleted images used, as docker rmi does (every GC root is respected)
    try {
      await collectGarbage({ root: s.root, content: s.content });
    } catch (err) {
      ctx.stderr.write(`kiln: the image records were removed, but freeing their content failed: ${(err as Error).message}\nhint: run "kiln system prune"\n`);
    }
  }
  if (failed) ctx.exitCode = 1;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('rmi <image...>')
    .description('Remove one or more images (and the content no other image, container or build cache uses)')
    .option('-f, --force', 'force removal of the image')
    .action(async (names: string[], opts: { force?: boolean }) => rmiAction(ctx, names, opts));
}
