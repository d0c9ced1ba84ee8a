/**
 * Many ONNX models on a few replicas: a directory of `<id>.onnx` files served by id. Each
 * replica keeps at most `maxNumModelsPerReplica` models loaded, least recently used evicted
 * (its session released once no call uses it), and caches a model that would evict another
 * only when it is asked for more often (`admission`, see ModelCache); the router sends a call to a replica that
 * already holds its model. The model id comes from the call (`multiplexedModelId`): the
 * `serve_multiplexed_model_id` header, a handle's `.options({ multiplexedModelId })`, or the
 * Open Inference Protocol path `/v2/models/{id}/infer`.
 */
import { readdir } from 'node:fs/promises';
import { HttpError, deployment, modelCacheOf, modelPath, multiplexed, multiplexedModelId, replicaContext } from 'threadserve';
import type { BatchOptionsInput, ModelAdmission } from 'threadserve';
import { onnxModelVersionOfFile } from './model-version.ts';
import { OnnxModel } from './onnx-model.ts';
import { defaultOptimizedModelDir } from './optimized-cache.ts';
import type { ModelMetadata, OutputTensor } from './onnx-model.ts';
import type { TensorInput } from './tensor-check.ts';

export interface OnnxRepositoryOptions {
  /** Directory holding `<id>.onnx` files. */
  repository: string;
  /** Models one replica keeps loaded (Ray Serve's default: 3). */
  maxNumModelsPerReplica?: number;
  /** Loads that may run at once across the deployment's replicas (default: half the cores, at least 1). */
  maxConcurrentLoads?: number;
  /** 'frequency' (default): TinyLFU admission in front of LRU; 'lru': cache every model loaded. */
  admission?: ModelAdmission;
  /** Batch concurrent requests for the same model (see OnnxModel's `batching`). */
  batching?: BatchOptionsInput;
  intraOpNumThreads?: number;
  /**
   * Where onnxruntime-optimised copies of the models are kept, so a model loaded again skips
   * graph optimisation (see OnnxModel's optimizedModelDir). Default: a directory of this user
   * under the system's temporary directory; false: none.
   */
  optimizedModelDir?: string | false;
}

interface LoadedModel {
  model: OnnxModel;
  version: string;
  /** Called by the cache on eviction: frees the session once running predictions end. */
  release(): Promise<void>;
}

export class OnnxRepository {
  private readonly optimizedModelDir: string | undefined;

  constructor(private readonly options: OnnxRepositoryOptions) {
    if (!options || typeof options.repository !== 'string' || options.repository === '') {
      throw new TypeError('OnnxRepository needs { repository } naming a directory of .onnx files');
    }
    const dir = options.optimizedModelDir;
    if (dir !== undefined && dir !== false && (typeof dir !== 'string' || dir === '')) {
      throw new TypeError(`OnnxRepository: optimizedModelDir: expected a directory path or false, got ${JSON.stringify(dir)}`);
    }
    this.optimizedModelDir = dir === undefined ? defaultOptimizedModelDir() : dir || undefined;
  }

  async init(): Promise<void> {
    await readdir(this.options.repository).catch((err: Error) => {
      throw new Error(`model repository ${this.options.repository} cannot be read: ${err.message}`);
    });
    const cache = modelCacheOf(this, '_load');
    if (this.options.maxNumModelsPerReplica !== undefined) await cache.setMaxNumModelsPerReplica(this.options.maxNumModelsPerReplica);
    if (this.options.admission !== undefined) cache.setAdmission(this.options.admission);
    if (this.options.maxConcurrentLoads !== undefined) cache.setMaxConcurrentLoads(this.options.maxConcurrentLoads);
  }

  /** Loads one model by id (cached per replica). The leading "_" keeps it off handles. */
  @multiplexed({ maxNumModelsPerReplica: 3 })
  async _load(id: string): Promise<LoadedModel> {
    const path = await modelPath(this.options.repository, id);
    const version = await onnxModelVersionOfFile(path);
    const o = this.options;
    const model = new OnnxModel({
      path,
      name: id,
      ...(o.batching ? { batching: o.batching } : {}),
      ...(o.intraOpNumThreads ? { intraOpNumThreads: o.intraOpNumThreads } : {}),
      ...(this.optimizedModelDir ? { optimizedModelDir: this.optimizedModelDir } : {}),
    });
    await model.init();
    return { model, version, release: () => model.shutdown() };
  }

  private current(): Promise<LoadedModel> {
    if (multiplexedModelId() === undefined) {
      throw new HttpError(400, 'no model id: send the serve_multiplexed_model_id header or call with .options({ multiplexedModelId })');
    }
    return this._load(multiplexedModelId()!);
  }

  /** Runs the call's model; V2 infer and handles use this. */
  async predict(inputs: Record<string, TensorInput>, outputNames?: string[]): Promise<Record<string, OutputTensor>> {
    const { model } = await this.current();
    return model.predict(inputs, outputNames);
  }

  /** Like predict, plus which model, version and replica answered. */
  async run(inputs: Record<string, TensorInput>, outputNames?: string[]) {
    const { model, version } = await this.current();
    const outputs = await model.predict(inputs, outputNames);
    return { modelId: model.name, version, replica: replicaContext().replicaId, outputs };
  }

  async metadata(): Promise<ModelMetadata & { versions: string[] }> {
    const { model, version } = await this.current();
    return { ...model.metadata(), versions: [version] };
  }

  /** Every model id in the repository. */
  async modelIds(): Promise<string[]> {
    const files = await readdir(this.options.repository);
    return files
      .filter((f) => f.endsWith('.onnx'))
      .map((f) => f.slice(0, -'.onnx'.length))
      .sort();
  }

  /** Ids loaded in this replica, most recently used first, and the cache's counters. */
  cacheStats() {
    const cache = modelCacheOf(this, '_load');
    return { loaded: cache.ids(), ...cache.stats() };
  }
}

/**
 * A replica that loads and releases models all the time allocates far more than one that
 * serves a loaded model, and V8 grows its young generation to match (up to 16 MiB a
 * semi-space, per thread). 4 MiB keeps that growth out of the memory the model budget is for:
 * peak RSS / budget 1.01 -> 0.97x (1 KiB models) and 1.14 -> 1.02x (4.1 MiB models) in one
 * bench:multiplex run, with no more CPU per request. `options({ resourceLimits })` replaces it.
 */
export const REPOSITORY_DEPLOYMENT_DEFAULTS = { maxOngoingRequests: 16, resourceLimits: { maxYoungGenerationSizeMb: 4 } } as const;

export const OnnxRepositoryDeployment = deployment(OnnxRepository, REPOSITORY_DEPLOYMENT_DEFAULTS);
