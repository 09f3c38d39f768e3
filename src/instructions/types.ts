/**
 * Typed, validated Dockerfile instructions (BuildKit's `instructions` package, as data).
 *
 * Values are kept as written (after the parser's quote handling for flags), NOT expanded:
 * variable expansion needs the ARG/ENV scope of the stage, which only the graph converter
 * knows. Each field that the converter expands is marked "raw".
 */
import type { Diagnostic, SourceRange } from '../diagnostics/types.js';
import type { InstructionNode } from '../dockerfile/types.js';

/** A string value with the range it was written at (for located errors after expansion). */
export interface Located<T = string> {
  value: T;
  range: SourceRange;
}

interface InstructionBase {
  /** Where the whole instruction is (all its lines). */
  range: SourceRange;
  /** The keyword as written (`run`, `Copy`). */
  keyword: string;
  /** The instruction text after the keyword and its flags (the AST's `original`). */
  original: string;
  /** The AST node this came from. */
  node: InstructionNode;
  /** True when the instruction came from an ONBUILD trigger (set by the converter). */
  onbuild?: boolean;
}

export interface FromInstruction extends InstructionBase {
  kind: 'from';
  /** raw: image reference, stage name or `scratch`, before ARG expansion */
  image: Located;
  /** Lower-cased stage name (`AS name`), if any. */
  name?: Located;
  /** raw `--platform` value */
  platform?: Located;
}

export interface ArgDefinition {
  key: string;
  /** raw default value (quotes kept), undefined for `ARG NAME` */
  value?: string;
  range: SourceRange;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'arg';
  args: ArgDefinition[];
}

export interface KeyValue {
  /** raw */
  key: string;
  /** raw (quotes kept) */
  value: string;
  /** `ENV k v` (legacy, no `=`) */
  legacy: boolean;
  range: SourceRange;
}

export interface EnvInstruction extends InstructionBase {
  kind: 'env';
  pairs: KeyValue[];
}

export interface LabelInstruction extends InstructionBase {
  kind: 'label';
  pairs: KeyValue[];
}

/** A here-document attached to RUN/COPY/ADD. */
export interface HeredocFile {
  name: string;
  /** Body, leading tabs already stripped for `<<-`. */
  data: string;
  /** Unquoted delimiter: the builder expands variables (COPY only; RUN leaves it to the shell). */
  expand: boolean;
  chomp: boolean;
  fileDescriptor: number;
  range: SourceRange;
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

/** One `--mount=` flag, parsed and validated (BuildKit's instructions.Mount). */
export interface RunMount {
  type: MountType;
  /** Stage name, stage index, named context or image (never variable-expanded). */
  from?: string;
  /** Path inside `from` (or the build context). */
  source?: string;
  target?: string;
  readonly: boolean;
  /** cache: `id` (default: the target); secret/ssh: the id. */
  id?: string;
  sharing?: CacheSharing;
  required: boolean;
  /** tmpfs `size` in bytes. */
  size?: number;
  /** secret `env=NAME`. */
  env?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

export interface RunDevice {
  name: string;
  required: boolean;
}

export interface RunInstruction extends InstructionBase {
  kind: 'run';
  /** Exec form: the JSON elements. Shell form: one element, the command text. */
  cmd: string[];
  /** Shell form (run under SHELL). */
  prependShell: boolean;
  heredocs: HeredocFile[];
  /**
   * Mounts as far as they can be validated before variable expansion. The converter re-parses
   * `mountFlags` with the stage's variables (BuildKit expands every option but `from`).
   */
  mounts: RunMount[];
  mountFlags: Located[];
  network?: NetworkMode;
  security?: SecurityMode;
  devices: RunDevice[];
}

/** `--chmod`: octal (`0755`) or symbolic (`u+x,go=rX`). */
export type ChmodSpec = { kind: 'octal'; mode: number } | { kind: 'symbolic'; mode: string };

export interface CopyInstruction extends InstructionBase {
  kind: 'copy' | 'add';
  /** raw source paths (ADD: also URLs). */
  sources: Located[];
  /** COPY <<EOF sources. */
  contents: HeredocFile[];
  /** raw destination */
  dest: Located;
  /** COPY --from (not expanded, as in BuildKit). */
  from?: Located;
  /** raw --chown */
  chown?: Located;
  /** raw --chmod (validated when it contains no variable) */
  chmod?: Located;
  link: boolean;
  /** COPY --parents */
  parents: boolean;
  /** raw --exclude patterns */
  exclude: Located[];
  /** ADD --checksum (raw) */
  checksum?: Located;
  /** ADD --keep-git-dir */
  keepGitDir: boolean;
  /** ADD --unpack (undefined: BuildKit's default: local archives unpacked, remote not). */
  unpack?: boolean;
}

export interface CmdInstruction extends InstructionBase {
  kind: 'cmd';
  cmd: string[];
  prependShell: boolean;
}

export interface EntrypointInstruction extends InstructionBase {
  kind: 'entrypoint';
  /** null for `ENTRYPOINT []` */
  cmd: string[] | null;
  prependShell: boolean;
}

export interface ShellInstruction extends InstructionBase {
  kind: 'shell';
  shell: string[];
}

export interface WorkdirInstruction extends InstructionBase {
  kind: 'workdir';
  /** raw */
  path: Located;
}

export interface UserInstruction extends InstructionBase {
  kind: 'user';
  /** raw */
  user: Located;
}

export interface VolumeInstruction extends InstructionBase {
  kind: 'volume';
  /** raw */
  volumes: Located[];
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'expose';
  /** raw port specs (`80`, `80/udp`, `8000-8010/tcp`), sorted as BuildKit sorts them */
  ports: Located[];
}

export interface StopSignalInstruction extends InstructionBase {
  kind: 'stopsignal';
  /** raw */
  signal: Located;
}

export interface HealthcheckSpec {
  /** `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]` */
  test: string[];
  /** Durations in nanoseconds (Docker's unit); 0 = inherit the default. */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'healthcheck';
  health: HealthcheckSpec;
}

export interface MaintainerInstruction extends InstructionBase {
  kind: 'maintainer';
  maintainer: string;
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'onbuild';
  /** The trigger text stored in the image config (`OnBuild`), heredoc bodies appended. */
  expression: string;
  /** The trigger, parsed; undefined when it does not parse (reported as a warning). */
  trigger?: Instruction;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | RunInstruction
  | CopyInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | WorkdirInstruction
  | UserInstruction
  | VolumeInstruction
  | ExposeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | MaintainerInstruction
  | OnbuildInstruction;

export type InstructionKind = Instruction['kind'];

/** Instructions that can appear inside a stage (everything but FROM). */
export type Command = Exclude<Instruction, FromInstruction>;

export interface Stage {
  /** Position among the stages (0-based): `COPY --from=0`. */
  index: number;
  /** Lower-cased `AS` name, if any. */
  name?: string;
  from: FromInstruction;
  commands: Command[];
  /** The FROM line. */
  range: SourceRange;
}

export interface Dockerfile {
  file: string;
  /** Escape character from the `# escape=` directive. */
  escape: '\\' | '`';
  /** ARG instructions before the first FROM. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  warnings: Diagnostic[];
}
