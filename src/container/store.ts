import fs from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, KilnError, NotFoundError } from '../diagnostics/errors.js';
import { readJsonFile, writeJsonAtomic } from '../util/atomic-file.js';
import { withLock } from '../util/lock-file.js';
import { processAlive } from '../util/process.js';
import { NAME_PATTERN, randomId, randomName } from './names.js';
import type { ContainerRecord, ContainerState } from './types.js';

export interface Container {
  record: ContainerRecord;
  state: ContainerState;
}

/**
 * Containers on disk: `<root>/containers/<id>/{container.json, state.json, json.log}`.
 * container.json is written once at create; state.json is rewritten atomically by the monitor.
 */
export class ContainerStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'containers');
  }

  containerDir(id: string): string {
    return path.join(this.dir, id);
  }
  logPath(id: string): string {
    return path.join(this.dir, id, 'json.log');
  }

  /** Allocate an id and a unique name, and write the record with state `created`. */
  async create(fill: (id: string, name: string) => ContainerRecord, wantedName?: string): Promise<Container> {
    if (wantedName !== undefined && !NAME_PATTERN.test(wantedName)) {
      throw new InvalidArgumentError(`invalid container name ${JSON.stringify(wantedName)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, {
        code: 'CONTAINER_INVALID_NAME',
      });
    }
    await fs.mkdir(this.dir, { recursive: true });
    return withLock(path.join(this.dir, '.names.lock'), async () => {
      const all = await this.list();
      const taken = new Set(all.map((c) => c.record.name));
      const name = wantedName?.replace(/^\//, '') ?? randomName(taken);
      if (taken.has(name)) {
        const other = all.find((c) => c.record.name === name)!;
        throw new AlreadyExistsError(
          `the container name "/${name}" is already in use by container "${other.record.id}"`,
          { code: 'CONTAINER_NAME_IN_USE', hint: 'remove that container (kiln rm) or choose another --name' },
        );
      }
      const id = randomId();
      const record = fill(id, name);
      await fs.mkdir(this.containerDir(id), { recursive: true, mode: 0o700 });
      const state: ContainerState = { status: 'created' };
      await writeJsonAtomic(path.join(this.containerDir(id), 'state.json'), state);
      await writeJsonAtomic(path.join(this.containerDir(id), 'container.json'), record);
      return { record, state };
    });
  }

  async load(id: string): Promise<Container | undefined> {
    const record = await readJsonFile<ContainerRecord>(path.join(this.containerDir(id), 'container.json'));
    if (!record) return undefined;
    const state = (await readJsonFile<ContainerState>(path.join(this.containerDir(id), 'state.json'))) ?? { status: 'created' };
    return { record, state: reconcile(state) };
  }

  async list(): Promise<Container[]> {
    let ids: string[];
    try {
      ids = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const out: Container[] = [];
    for (const id of ids) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const c = await this.load(id);
      if (c) out.push(c);
    }
    return out.sort((a, b) => b.record.created.localeCompare(a.record.created));
  }

  /** Find a container by full id, name, or unique id prefix (docker's rules). */
  async resolve(ref: string): Promise<Container> {
    const all = await this.list();
    const name = ref.replace(/^\//, '');
    const exact = all.find((c) => c.record.id === ref || c.record.name === name);
    if (exact) return exact;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = all.filter((c) => c.record.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) {
        throw new KilnError('CONTAINER_AMBIGUOUS', `multiple containers found with id prefix ${ref}`);
      }
    }
    throw new NotFoundError(`no such container: ${ref}`, { code: 'CONTAINER_NOT_FOUND' });
  }

  async setState(id: string, state: ContainerState): Promise<void> {
    await writeJsonAtomic(path.join(this.containerDir(id), 'state.json'), state);
  }

  async remove(id: string): Promise<void> {
    const trash = path.join(this.dir, `.removing-${id}`);
    try {
      await fs.rename(this.containerDir(id), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fs.rm(trash, { recursive: true, force: true });
  }
}

/** A `running` state whose monitor died (kill -9, reboot) is reported as exited, not left running forever. */
function reconcile(state: ContainerState): ContainerState {
  if (state.status !== 'running') return state;
  const owner = state.monitorPid ?? state.pid;
  if (owner !== undefined && processAlive(owner)) return state;
  return { ...state, status: 'exited', exitCode: state.exitCode ?? 255, error: state.error ?? 'the container monitor died' };
}

