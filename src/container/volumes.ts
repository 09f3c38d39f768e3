import fs from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../diagnostics/errors.js';
import { readJsonFile, writeJsonAtomic } from '../util/atomic-file.js';
import { randomId } from './names.js';

export interface VolumeInfo {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  /** kiln: created for an image VOLUME or a bare `-v /path`; removed with `run --rm`. */
  Anonymous: boolean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * Named and anonymous volumes: `<root>/volumes/<name>/_data` holds the data, `meta.json` the record.
 * Data stays until `volume rm`/`prune`, whatever happens to the containers that used it.
 */
export class VolumeStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'volumes');
  }

  private metaPath(name: string): string {
    return path.join(this.dir, name, 'meta.json');
  }

  static checkName(name: string): void {
    if (!VOLUME_NAME.test(name)) {
      throw new InvalidArgumentError(
        `invalid volume name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
        { code: 'VOLUME_INVALID_NAME' },
      );
    }
  }

  /** Create a volume; an existing named volume is returned as it is (docker's behaviour). */
  async create(name?: string, labels: Record<string, string> = {}): Promise<VolumeInfo> {
    const anonymous = name === undefined;
    const volName = name ?? randomId();
    VolumeStore.checkName(volName);
    const existing = await this.find(volName);
    if (existing) return existing;
    const info: VolumeInfo = {
      Name: volName,
      Driver: 'local',
      Mountpoint: path.join(this.dir, volName, '_data'),
      CreatedAt: new Date().toISOString(),
      Labels: labels,
      Scope: 'local',
      Anonymous: anonymous,
    };
    await fs.mkdir(info.Mountpoint, { recursive: true, mode: 0o755 });
    try {
      await fs.writeFile(this.metaPath(volName), `${JSON.stringify(info, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const raced = await this.find(volName);
      if (raced) return raced;
      throw new AlreadyExistsError(`volume ${volName} is being created`, { code: 'VOLUME_EXISTS' });
    }
    return info;
  }

  async find(name: string): Promise<VolumeInfo | undefined> {
    if (!VOLUME_NAME.test(name)) return undefined;
    return readJsonFile<VolumeInfo>(this.metaPath(name));
  }

  async get(name: string): Promise<VolumeInfo> {
    const v = await this.find(name);
    if (!v) throw new NotFoundError(`no such volume: ${name}`, { code: 'VOLUME_NOT_FOUND' });
    return v;
  }

  async list(): Promise<VolumeInfo[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const out: VolumeInfo[] = [];
    for (const n of names.sort()) {
      const v = await this.find(n);
      if (v) out.push(v);
    }
    return out;
  }

  /** Remove a volume; `inUseBy` lists the containers that still reference it. */
  async remove(name: string, inUseBy: string[] = [], force = false): Promise<void> {
    await this.get(name);
    if (inUseBy.length > 0 && !force) {
      throw new FailedPreconditionError(`volume ${name} is in use by container(s) ${inUseBy.join(', ')}`, {
        code: 'VOLUME_IN_USE',
        hint: 'remove the container first (kiln rm), or use --force',
      });
    }
    // Rename first so a half-removed volume is never found by name.
    const trash = path.join(this.dir, `.removing-${name}-${randomId().slice(0, 8)}`);
    await fs.rename(path.join(this.dir, name), trash);
    await fs.rm(trash, { recursive: true, force: true });
  }

  async size(name: string): Promise<number> {
    return dirSize(path.join(this.dir, name, '_data'));
  }
}

export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        try {
          total += (await fs.lstat(p)).size;
        } catch {
          /* raced with a delete */
        }
      }
    }
  }
  return total;
}
