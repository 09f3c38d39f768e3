export * from './types.js';
export { generateSpec, processSpec, containerPath, type OciSpec, type OciProcess, type SpecOptions } from './spec.js';
export { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, DEFAULT_MOUNTS, DEVICE_RULES, DEFAULT_PATH } from './defaults.js';
export { Cgroup, cgroupDirs, cgroupVersion, V1_CONTROLLERS, type CgroupVersion } from './cgroups.js';
export { KilnRuntimeExecutor, RuncExecutor, OciRuntimeExecutor, createExecutor, kilnRuntimePath, runcPath, type OciExecutorOptions } from './oci-executor.js';
export { StartError } from './errors.js';
