/**
 * onnxruntime-node session options for one replica: how many threads it may use, and whether
 * it runs on CPU or on a CUDA device.
 *
 * The CUDA provider is compiled into onnxruntime-node's linux x64 binding, but its shared
 * libraries are not in the npm package: the package's postinstall downloads them from NuGet,
 * and installs that skip it (`onnxruntime-node-install=skip`, as this project must) have none.
 * Asking for `cuda` then fails at session creation with only
 * "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library" (plus a native
 * log line on stderr), and `listSupportedBackends()` still lists cuda (its `bundled: false`
 * means "not shipped in the package", not "missing"). So this module looks for the files
 * itself, before onnxruntime is asked, and says what is missing and how to get it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { replicaContext } from 'threadserve';

export type GraphOptimizationLevel = NonNullable<InferenceSession.SessionOptions['graphOptimizationLevel']>;

/** Files the CUDA provider needs next to onnxruntime_binding.node (linux x64). */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const;
/** From onnxruntime-node's script/install-metadata.js and its README (CUDA 11 dropped in 1.22). */
const CUDA_NUGET_PACKAGE = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const CUDA_REQUIREMENTS =
  'CUDA 12.x runtime libraries (libcudart, libcublas, libcublasLt, libcufft, libcurand) and cuDNN 9.x on the library path, and an NVIDIA driver that supports CUDA 12';

export interface CudaSupport {
  available: boolean;
  /** Why not, and how to fix it; set when `available` is false. */
  reason?: string;
}

/** Decides whether the CUDA provider can load; injectable for tests. */
export type CudaProbe = () => CudaSupport;

export interface CudaProbeEnv {
  platform?: string;
  arch?: string;
  /** The folder holding onnxruntime_binding.node. */
  bindingDir?: string;
  exists?: (file: string) => boolean;
  backends?: () => readonly { name: string }[];
  version?: string;
}

const require_ = createRequire(import.meta.url);

function ortPackageDir(): string {
  return path.dirname(require_.resolve('onnxruntime-node/package.json'));
}

function ortVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(ortPackageDir(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Where onnxruntime-node loads its binding from (bin/napi-v6/<platform>/<arch>). */
function ortBindingDir(platform: string = process.platform, arch: string = process.arch): string {
  return path.join(ortPackageDir(), 'bin', 'napi-v6', platform, arch);
}

/**
 * Checks, without asking onnxruntime to load anything: linux x64, a binding that knows cuda,
 * and the provider libraries in the binding's folder. It cannot see whether CUDA and cuDNN
 * themselves are installed; a session that then fails to start says so (see `cudaLoadFailed`).
 */
export function detectCuda(env: CudaProbeEnv = {}): CudaSupport {
  const platform = env.platform ?? process.platform;
  const arch = env.arch ?? process.arch;
  const version = env.version ?? ortVersion();
  if (platform !== 'linux' || arch !== 'x64') {
    return {
      available: false,
      reason: `onnxruntime-node ${version} ships the CUDA execution provider for linux x64 only; this is ${platform} ${arch}`,
    };
  }
  const backends = (env.backends ?? listSupportedBackends)();
  if (!backends.some((b) => b.name === 'cuda')) {
    return { available: false, reason: `this onnxruntime-node ${version} binding has no CUDA execution provider` };
  }
  const dir = env.bindingDir ?? ortBindingDir(platform, arch);
  const exists = env.exists ?? existsSync;
  const missing = CUDA_PROVIDER_FILES.filter((f) => !exists(path.join(dir, f)));
  if (missing.length === 0) return { available: true };
  return { available: false, reason: missingFilesMessage(missing, dir, version) };
}

function missingFilesMessage(missing: readonly string[], dir: string, version: string): string {
  return (
    `the CUDA execution provider of onnxruntime-node ${version} is not installed: ${missing.join(' and ')} ` +
    `${missing.length > 1 ? 'are' : 'is'} missing from ${dir}. ` +
    `These files are not in the npm package; onnxruntime-node's postinstall downloads them from the NuGet package ` +
    `${CUDA_NUGET_PACKAGE} ${version} (runtimes/linux-x64/native/), and it was skipped (npm config ` +
    `onnxruntime-node-install=skip) or could not reach api.nuget.org. To install them, on a machine that can reach ` +
    `api.nuget.org run \`ONNXRUNTIME_NODE_INSTALL=true node node_modules/onnxruntime-node/script/install.js\`, or ` +
    `copy libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so (and ..._tensorrt.so for TensorRT) ` +
    `from that .nupkg (a zip) into ${dir}. The provider also needs ${CUDA_REQUIREMENTS}. ` +
    `Or set numGpus to 0 to run on CPU, or allowCpuFallback to fall back to CPU with a warning.`
  );
}

/** The error for a CUDA session that onnxruntime refused, e.g. when CUDA or cuDNN is absent. */
export function cudaLoadFailed(deviceId: number, cause: unknown): Error {
  const msg = cause instanceof Error ? cause.message : String(cause);
  const err = new Error(
    `onnxruntime could not start the CUDA execution provider on device ${deviceId}: ${msg.trim()}. ` +
      `It needs ${CUDA_REQUIREMENTS}, and the provider libraries in ${ortBindingDir()}.`,
  );
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

export interface WarnLogger {
  warn(message: string): void;
}

export interface ReplicaSessionConfig {
  /** The replica's CUDA device (an ordinal, see runtime/main/gpu.ts); undefined: CPU. */
  deviceId?: number | undefined;
  /** Replicas of every deployment on this machine; intra-op threads default to a fair share of cores. */
  totalReplicasOnMachine?: number;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Run on CPU, with one warning per replica, when CUDA cannot load. Default false: throw. */
  allowCpuFallback?: boolean;
  /** More onnxruntime options; they win over the computed ones. */
  sessionOptions?: InferenceSession.SessionOptions;
  /** Injectables for tests. */
  cudaProbe?: CudaProbe;
  logger?: WarnLogger;
  cpuCount?: number;
  /** Whose warning this is; default: the replica id, or "main" outside a replica. */
  warnKey?: string;
}

export interface ReplicaSessionOptions {
  sessionOptions: InferenceSession.SessionOptions;
  provider: 'cpu' | 'cuda';
  deviceId?: number;
}

const warned = new Set<string>();

function currentReplicaId(): string {
  try {
    return replicaContext().replicaId;
  } catch {
    return 'main';
  }
}

/**
 * Warns once per replica (one key per replica thread, and the "main" key outside replicas):
 * a replica that loads many models (multiplexing) should not repeat the same warning.
 */
export function warnCpuFallback(reason: string, config: Pick<ReplicaSessionConfig, 'logger' | 'warnKey'>): void {
  const key = config.warnKey ?? currentReplicaId();
  if (warned.has(key)) return;
  warned.add(key);
  (config.logger ?? console).warn(`threadserve: ${key}: running on CPU because ${reason}`);
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/** `max(1, floor(cores / replicas))`: replicas on one machine share its cores, not each take all. */
export function defaultIntraOpThreads(totalReplicasOnMachine = 1, cpuCount: number = os.availableParallelism()): number {
  positiveInt('totalReplicasOnMachine', totalReplicasOnMachine);
  return Math.max(1, Math.floor(cpuCount / totalReplicasOnMachine));
}

/**
 * Session options for one replica. Inter-op threads default to 1 (replicas are the parallelism),
 * graph optimisation to 'all'. With a device id the provider is `{ name: 'cuda', deviceId }`;
 * when CUDA cannot load this throws (saying what is missing), or with `allowCpuFallback` warns
 * once and uses CPU.
 */
export function buildSessionOptions(config: ReplicaSessionConfig = {}): ReplicaSessionOptions {
  positiveInt('intraOpNumThreads', config.intraOpNumThreads);
  positiveInt('interOpNumThreads', config.interOpNumThreads);
  const { deviceId } = config;
  if (deviceId !== undefined && (!Number.isInteger(deviceId) || deviceId < 0)) {
    throw new RangeError(`deviceId must be a non-negative integer, got ${deviceId}`);
  }
  const base: InferenceSession.SessionOptions = {
    intraOpNumThreads: config.intraOpNumThreads ?? defaultIntraOpThreads(config.totalReplicasOnMachine, config.cpuCount),
    interOpNumThreads: config.interOpNumThreads ?? 1,
    graphOptimizationLevel: config.graphOptimizationLevel ?? 'all',
  };
  const cpu = (): ReplicaSessionOptions => ({
    sessionOptions: { ...base, executionProviders: ['cpu'], ...config.sessionOptions },
    provider: 'cpu',
  });
  if (deviceId === undefined) return cpu();
  const support = (config.cudaProbe ?? detectCuda)();
  if (!support.available) {
    const reason = support.reason ?? 'the CUDA execution provider cannot load';
    if (!config.allowCpuFallback) throw new Error(`cannot run on GPU ${deviceId}: ${reason}`);
    warnCpuFallback(reason, config);
    return cpu();
  }
  return {
    sessionOptions: { ...base, executionProviders: [{ name: 'cuda', deviceId }], ...config.sessionOptions },
    provider: 'cuda',
    deviceId,
  };
}
