/**
 * One ONNX model in one replica: loads an onnxruntime-node InferenceSession once, describes its
 * tensors in Open Inference Protocol terms, checks requests before running them, and releases
 * the session at shutdown. A plain class: wrap it with `deployment()` to serve it.
 *
 * Outputs own their buffers (onnxruntime-node allocates one per output; copied when not), so a
 * replica can transfer them to the main thread instead of copying.
 */
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { HttpError, OptionsError } from 'threadserve';
import { assignedDevice, checkOutputNames, describeTensor, ownedData, replicasInProcess } from './model-helpers.ts';
import type { TensorMetadata } from './model-helpers.ts';
import { buildSessionOptions, cudaLoadFailed, warnCpuFallback } from './execution-providers.ts';
import { createWithOptimizedCopy } from './optimized-cache.ts';
import type { OptimizedCopy } from './optimized-cache.ts';
import type { CudaProbe, GraphOptimizationLevel, WarnLogger } from './execution-providers.ts';
import { checkInputs, v2Datatype } from './tensor-check.ts';
import type { CheckedInput, TensorInput } from './tensor-check.ts';
import { splitOutputs, stackRequests } from './stacking.ts';
import type { OutputTensor } from './stacking.ts';
import { BatchQueue, realClock } from 'threadserve';
import type { BatchOptionsInput } from 'threadserve';

interface BatchItem {
  inputs: Record<string, CheckedInput>;
  outputNames: readonly string[] | undefined;
}

export interface OnnxModelOptions {
  /** The .onnx file. */
  path: string;
  /** Name in metadata(); default: the file name without .onnx. */
  name?: string;
  /** Extra onnxruntime options; they win over the computed ones. */
  sessionOptions?: InferenceSession.SessionOptions;
  intraOpNumThreads?: number;
  /** Replicas sharing this machine, for the default intra-op thread count. Default: the runtime's replicasInProcess (1 outside a replica). */
  totalReplicasOnMachine?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * CUDA device ordinal. Default: the replica's assigned device (`replicaContext().deviceId`,
   * from the deployment's `numGpus`); none assigned, or outside a replica: CPU.
   */
  deviceId?: number;
  /** When CUDA cannot load, run on CPU with a warning instead of failing. */
  allowCpuFallback?: boolean;
  /**
   * Dynamic batching: concurrent predict() calls whose inputs match in every dimension but the
   * first are stacked into one run (Ray Serve's defaults: maxBatchSize 10, batchWaitTimeoutS 0.01).
   */
  batching?: BatchOptionsInput;
  /**
   * A directory for onnxruntime-optimised copies of the model (CPU only): the first load saves
   * one, later loads open it with graph optimisation off, which makes loading a small model
   * ~40% cheaper (see optimized-cache.ts). Default: none. The ONNX repository sets one.
   */
  optimizedModelDir?: string;
  /** Injectables for tests. */
  cudaProbe?: CudaProbe;
  logger?: WarnLogger;
  warnKey?: string;
}

export type { TensorMetadata };

export interface ModelMetadata {
  name: string;
  platform: 'onnxruntime_onnx';
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export type { OutputTensor };

/** onnxruntime's own complaints about inputs, which are the caller's fault (a safety net behind tensor-check). */
const ORT_INPUT_ERROR = /^(Invalid rank for input|Got invalid dimensions for input|Unexpected input data type|input '.*' is missing in 'feeds')/;
/**
 * A kernel that failed on inputs that passed the metadata checks: dynamic dimensions the graph
 * cannot take (a detector fed 3x5 pixels, a batch of 0). Memory exhaustion is the server's.
 */
const ORT_KERNEL_ERROR = /^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: ([\s\S]*)$/;

/** onnxruntime's status message without its source path and C++ signature (`/onnxruntime_src/...h:563 void f(...) x was false.`). */
function kernelReason(status: string): string {
  const text = status.trim().split('\n')[0]!;
  const afterCheck = / was false\. (.*)$/.exec(text)?.[1];
  if (afterCheck) return afterCheck;
  return text.replace(/^\/\S+:\d+\s+/, '').replace(/^[\w:<>~*& ]+\([^)]*\)\s*/, '');
}

const unavailableWarned = new Set<string>();

const GRAPH_OPTIMIZATION_LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'layout', 'all'];

/**
 * What is wrong with the plain options (batching has its own checks, onnxruntime's
 * sessionOptions its own; the injectables for tests pass through). Written out rather than
 * with zod: every model replica thread runs this, and zod costs each thread ~4 MB of heap.
 */
function optionProblems(o: OnnxModelOptions): string[] {
  const problems: string[] = [];
  const wholeAtLeast = (key: keyof OnnxModelOptions, min: number) => {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= min))
      problems.push(`${key}: expected a whole number >= ${min}, got ${JSON.stringify(v)}`);
  };
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === '')) problems.push(`name: expected a non-empty string, got ${JSON.stringify(o.name)}`);
  if (o.sessionOptions !== undefined && (o.sessionOptions === null || typeof o.sessionOptions !== 'object' || Array.isArray(o.sessionOptions))) {
    problems.push('sessionOptions: expected an object of onnxruntime session options');
  }
  wholeAtLeast('intraOpNumThreads', 1);
  wholeAtLeast('totalReplicasOnMachine', 1);
  wholeAtLeast('deviceId', 0);
  if (o.graphOptimizationLevel !== undefined && !GRAPH_OPTIMIZATION_LEVELS.includes(o.graphOptimizationLevel)) {
    problems.push(`graphOptimizationLevel: expected one of ${GRAPH_OPTIMIZATION_LEVELS.join(', ')}, got ${JSON.stringify(o.graphOptimizationLevel)}`);
  }
  if (o.optimizedModelDir !== undefined && (typeof o.optimizedModelDir !== 'string' || o.optimizedModelDir === ''))
    problems.push(`optimizedModelDir: expected a directory path, got ${JSON.stringify(o.optimizedModelDir)}`);
  if (o.allowCpuFallback !== undefined && typeof o.allowCpuFallback !== 'boolean')
    problems.push(`allowCpuFallback: expected true or false, got ${JSON.stringify(o.allowCpuFallback)}`);
  return problems;
}

export class OnnxModel {
  private session: InferenceSession | undefined;
  private loading: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly running = new Set<Promise<unknown>>();
  private batcher: BatchQueue<BatchItem, Record<string, OutputTensor>> | undefined;
  private provider: { provider: 'cpu' | 'cuda'; deviceId?: number } = { provider: 'cpu' };
  private copy: OptimizedCopy | 'off' = 'off';
  readonly name: string;

  constructor(private readonly options: OnnxModelOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new OptionsError('OnnxModel needs { path } of an .onnx file');
    }
    const problems = optionProblems(options);
    if (problems.length > 0) throw new OptionsError(`OnnxModel options for ${options.path}: ${problems.join('; ')}`);
    this.name = options.name ?? path.basename(options.path).replace(/\.onnx$/i, '');
  }

  /** Loads the session; later calls wait for the first one. */
  init(): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`model "${this.name}" is shut down`));
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const o = this.options;
    const built = buildSessionOptions({
      ...o,
      totalReplicasOnMachine: o.totalReplicasOnMachine ?? replicasInProcess(),
      deviceId: o.deviceId ?? assignedDevice(),
      allowCpuFallback: o.allowCpuFallback ?? false,
    });
    let session: InferenceSession;
    try {
      session = await this.createSession(built.provider, built.sessionOptions);
    } catch (err) {
      if (built.provider !== 'cuda') throw this.loadFailed(err);
      // The provider files exist but CUDA itself would not start (no driver, no cuDNN, bad device).
      const cudaErr = cudaLoadFailed(built.deviceId!, err);
      if (!o.allowCpuFallback) throw cudaErr;
      warnCpuFallback(cudaErr.message, o);
      const cpu = buildSessionOptions({ ...o, deviceId: undefined });
      session = await InferenceSession.create(o.path, cpu.sessionOptions).catch((e: unknown) => {
        throw this.loadFailed(e);
      });
      this.provider = { provider: 'cpu' };
      this.session = session;
      return;
    }
    this.provider = built.deviceId === undefined ? { provider: built.provider } : { provider: built.provider, deviceId: built.deviceId };
    this.session = session;
  }

  /** A CPU session through the optimised-copy directory when one is set and there is something to optimise. */
  private async createSession(provider: 'cpu' | 'cuda', options: InferenceSession.SessionOptions): Promise<InferenceSession> {
    const dir = this.options.optimizedModelDir;
    if (!dir || provider !== 'cpu' || options.graphOptimizationLevel === 'disabled' || options.optimizedModelFilePath) {
      return InferenceSession.create(this.options.path, options);
    }
    const made = await createWithOptimizedCopy(this.options.path, options, dir, (reason) => {
      // Once per reason and thread: a repository would otherwise repeat it on every load.
      if (unavailableWarned.has(reason)) return;
      unavailableWarned.add(reason);
      (this.options.logger ?? console).warn(`threadserve: model "${this.name}": loading without an optimised copy: ${reason}`);
    });
    this.copy = made.copy;
    return made.session;
  }

  /**
   * What the optimised-copy directory did for the last load: 'saved' (first load), 'reused',
   * 'unavailable' (loaded without it; a warning said why), 'off' (no directory, GPU, or
   * optimisation disabled).
   */
  get optimizedCopy(): OptimizedCopy | 'off' {
    return this.copy;
  }

  private loadFailed(err: unknown): Error {
    const msg = err instanceof Error ? err.message : String(err);
    const out = new Error(`model "${this.name}": cannot load ${this.options.path}: ${msg}`);
    (out as Error & { cause?: unknown }).cause = err;
    return out;
  }

  /** Where the session runs: cpu, or cuda with its device. */
  get device(): { provider: 'cpu' | 'cuda'; deviceId?: number } {
    return { ...this.provider };
  }

  get loaded(): boolean {
    return this.session !== undefined;
  }

  private requireSession(): InferenceSession {
    if (!this.session) throw new Error(`model "${this.name}" is not loaded; call init() first`);
    return this.session;
  }

  /** V2 model metadata: datatypes by V2 name, dynamic dimensions as -1. */
  metadata(): ModelMetadata {
    const s = this.requireSession();
    return {
      name: this.name,
      platform: 'onnxruntime_onnx',
      inputs: s.inputMetadata.map(describeTensor),
      outputs: s.outputMetadata.map(describeTensor),
    };
  }

  /**
   * Checks the inputs against the model (HttpError 400 naming the input when wrong), runs the
   * model and returns the named outputs (all of them by default).
   */
  async predict(inputs: Readonly<Record<string, TensorInput>>, outputNames?: readonly string[]): Promise<Record<string, OutputTensor>> {
    if (this.closing) throw new HttpError(503, `model "${this.name}" is shutting down`);
    if (!this.session) await this.init();
    const session = this.requireSession();
    // Checked one by one, so a bad request fails alone even when it would have been batched.
    const checked = checkInputs(inputs, session.inputMetadata);
    if (outputNames !== undefined) checkOutputNames(outputNames, session.outputNames);
    if (this.options.batching) {
      this.batcher ??= new BatchQueue((items: BatchItem[]) => this.runBatch(items), this.options.batching, realClock, `model "${this.name}" predict()`);
      return this.batcher.submit({ inputs: checked, outputNames });
    }
    return this.runChecked(checked, outputNames);
  }

  /** The batch queue, so reconfigure() can tune batching live (setMaxBatchSize...). */
  get batchQueue(): BatchQueue<BatchItem, Record<string, OutputTensor>> | undefined {
    return this.batcher;
  }

  private async runBatch(items: BatchItem[]): Promise<Array<Record<string, OutputTensor> | Error>> {
    const results: Array<Record<string, OutputTensor> | Error> = new Array(items.length);
    await Promise.all(
      stackRequests(items).map(async (group) => {
        try {
          const outputs = await this.runChecked(group.feeds, items[group.members[0]!]!.outputNames);
          splitOutputs(outputs, group.rows).forEach((o, k) => (results[group.members[k]!] = o));
        } catch (err) {
          for (const m of group.members) results[m] = err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
    return results;
  }

  private async runChecked(checked: Record<string, CheckedInput>, outputNames: readonly string[] | undefined): Promise<Record<string, OutputTensor>> {
    const session = this.requireSession();
    const feeds: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(checked)) {
      feeds[name] = new Tensor(t.type, t.data as Float32Array, t.dims);
    }
    // Failures come back as exceptions; onnxruntime's own stderr line for them would log a
    // client's bad shape a second time.
    const runOptions: InferenceSession.RunOptions = { logSeverityLevel: 4 };
    const run = outputNames === undefined ? session.run(feeds, runOptions) : session.run(feeds, [...outputNames], runOptions);
    this.running.add(run);
    let results: InferenceSession.ReturnType;
    try {
      results = await run;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (ORT_INPUT_ERROR.test(msg)) throw new HttpError(400, msg);
      const kernel = ORT_KERNEL_ERROR.exec(msg);
      if (kernel && !/alloc/i.test(kernel[3]!)) {
        const given = Object.entries(checked)
          .map(([name, t]) => `${name} [${t.dims.join(',')}]`)
          .join(', ');
        throw new HttpError(400, `model "${this.name}" cannot run input ${given}: its ${kernel[1]} node '${kernel[2]}' failed: ${kernelReason(kernel[3]!)}`);
      }
      throw err;
    } finally {
      this.running.delete(run);
    }
    const out: Record<string, OutputTensor> = {};
    for (const [name, value] of Object.entries(results)) {
      if (!(value instanceof Tensor)) {
        throw new Error(`model "${this.name}": output "${name}" is not a tensor (sequence or map outputs are not supported)`);
      }
      out[name] = { data: ownedData(value), dims: [...value.dims], datatype: v2Datatype(value.type) };
    }
    return out;
  }

  /**
   * Releases the session once the running predictions finish: releasing (or stopping the
   * thread) during `session.run` aborts the whole process (see ENVIRONMENT.md).
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      await this.loading?.catch(() => undefined);
      await Promise.allSettled([...this.running]);
      const s = this.session;
      this.session = undefined;
      await s?.release();
    })();
    return this.closing;
  }
}
