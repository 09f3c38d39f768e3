import type { ContainerConfig, Descriptor } from '../image/types.js';

/** A mount requested for a container (docker's -v / --mount / --tmpfs, resolved). */
export type ContainerMount =
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  | { type: 'volume'; name: string; target: string; readonly: boolean; anonymous: boolean }
  | { type: 'tmpfs'; target: string; options: string[] };

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerState {
  status: ContainerStatus;
  /** The container's init process (host pid) while running. */
  pid?: number;
  /** The monitor process that owns the container while running. */
  monitorPid?: number;
  exitCode?: number;
  /** The signal that ended the process, e.g. SIGKILL. */
  signal?: string;
  oomKilled?: boolean;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

/** Everything needed to (re)start a container; written once at create time. */
export interface ContainerRecord {
  id: string;
  name: string;
  /** The image reference as the user wrote it, and the manifest digest it resolved to. */
  image: string;
  /** The image ID (config digest), as docker shows it. */
  imageDigest: string;
  /** The manifest (or index) the image reference resolved to: keeps the image's blobs alive while the container exists. */
  imageTarget: Descriptor;
  created: string;
  /** The process: entrypoint + cmd already combined as docker does. */
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  hostname: string;
  tty: boolean;
  interactive: boolean;
  init: boolean;
  readonlyRootfs: boolean;
  network: 'none' | 'host';
  mounts: ContainerMount[];
  resources: { memory?: number; pidsLimit?: number; cpus?: number };
  runtime: 'kiln' | 'runc';
  autoRemove: boolean;
  /** The snapshot key of the writable layer. */
  snapshotKey: string;
  /** The image config at create time (commit starts from it). */
  config: ContainerConfig;
  stopSignal?: string;
  labels: Record<string, string>;
}
