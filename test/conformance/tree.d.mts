export declare const META_FILES: string[];
/** path -> `dir 0755 0:0` | `file 0644 0:0 <size> <sha256>` | `symlink 0777 0:0 -> <target>` | `fifo|char|block|socket <mode> <uid>:<gid>` */
export declare function describeTree(root: string): Record<string, string>;
export interface ImageDescription {
  config: Record<string, unknown>;
  author?: string;
  architecture: string;
  os: string;
  layers: number;
  history: Array<{ created_by: string; empty_layer?: true }>;
}
export declare function describeConfig(raw: {
  config?: Record<string, unknown>;
  author?: string;
  architecture?: string;
  os?: string;
  rootfs?: { diff_ids?: string[] };
  history?: Array<{ created_by?: string; empty_layer?: boolean }>;
}): ImageDescription;
export declare function stageContext(caseDir: string, dest: string): void;
export interface CaseOptions {
  buildArgs?: Record<string, string | null>;
  target?: string;
  platform?: string;
  secrets?: Record<string, string>;
  /** expectations written from the Dockerfile reference (feature newer than the recording BuildKit) */
  handWritten?: boolean;
  /** URL path -> body, served on 127.0.0.1 by the test; the build gets --build-arg BASE=http://127.0.0.1:PORT */
  http?: Record<string, string>;
  /** images to build first (same context, another Dockerfile) and tag, for FROM */
  prebuild?: Array<{ dockerfile: string; tag: string }>;
}
export declare function readCaseOptions(caseDir: string): CaseOptions;
export declare function formatExpected(expected: Record<string, unknown>): string;
/** --target, --platform, --build-arg and --secret for a case (secrets written to files in secretDir). */
export declare function caseBuildFlags(opts: CaseOptions, secretDir: string): string[];
