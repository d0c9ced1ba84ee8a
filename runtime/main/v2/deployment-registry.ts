/**
 * The runtime's ModelRegistry. Every deployment whose class has `metadata()` and `predict()`
 * (the ONNX model deployment, or any class of the same shape) is a V2 model under its
 * deployment name. A model deployment with a `@multiplexed` loader also serves every model id
 * of its repository: `/v2/models/{id}/infer` calls it with `multiplexedModelId: id`, so the
 * router prefers a replica that already holds that model. Calls go through the deployment's
 * router like any handle call: limits, backpressure and replica choice apply to V2 traffic.
 */
import { codedError } from '../../shared/error-codes.ts';
import type { CallOptions } from '../../shared/handle.ts';
import { ResponseStream, mapChunks } from '../../shared/response-stream.ts';
import type { ChunkStream } from '../../shared/response-stream.ts';
import type { CallTrace } from '../../shared/trace-context.ts';
import type { Application } from '../application.ts';
import type { ModelRegistry, V2InferRequest, V2InferResult, V2ModelIndexEntry, V2ModelMetadata, V2Tensor } from './model-registry.ts';

/** What `metadata()` of a model deployment returns (OnnxModel's shape). */
interface ModelInfo {
  name?: string;
  platform?: string;
  versions?: string[];
  inputs: V2ModelMetadata['inputs'];
  outputs: V2ModelMetadata['outputs'];
}

/** What `predict()` returns: output name to tensor. */
type PredictOutput = Record<string, { data: ArrayLike<unknown>; dims: number[]; datatype: string }>;

/** Where a V2 model name leads: a deployment, and the model id when it is multiplexed. */
interface Target {
  deployment: string;
  options: CallOptions;
}

const DEFAULT_VERSION = '1';

export class DeploymentModelRegistry implements ModelRegistry {
  private readonly models: string[];
  private readonly multiplexed: string[];

  constructor(private readonly app: Application) {
    const models = [...app.plan.deployments.values()].filter((d) => d.methods.includes('metadata') && d.methods.includes('predict'));
    this.models = models.filter((d) => !d.multiplexed).map((d) => d.options.name);
    this.multiplexed = models.filter((d) => d.multiplexed).map((d) => d.options.name);
  }

  private target(name: string): Target {
    if (this.models.includes(name) || this.multiplexed.includes(name)) return { deployment: name, options: {} };
    // Any other name is a model id for the (first) multiplexed model deployment, which
    // answers 404 itself when its repository has no such model.
    const repo = this.multiplexed[0];
    if (repo !== undefined) return { deployment: repo, options: { multiplexedModelId: name } };
    throw codedError('NOT_FOUND', `unknown model "${name}"; served models: ${this.models.join(', ') || 'none'}`);
  }

  private async versions(t: Target): Promise<string[]> {
    const info = (await this.app.call(t.deployment, 'metadata', [], t.options)) as ModelInfo;
    return info.versions ?? [DEFAULT_VERSION];
  }

  private async checkVersion(t: Target, model: string, version: string | undefined): Promise<void> {
    if (version === undefined) return;
    const versions = await this.versions(t);
    if (!versions.includes(version)) {
      throw codedError('NOT_FOUND', `model "${model}" has no version "${version}"; versions: ${versions.join(', ')}`);
    }
  }

  async list(): Promise<V2ModelIndexEntry[]> {
    const entries: V2ModelIndexEntry[] = this.models.map((name) =>
      this.app.runner(name)?.ready
        ? { name, version: DEFAULT_VERSION, state: 'READY' }
        : { name, version: DEFAULT_VERSION, state: 'UNAVAILABLE', reason: 'replicas starting or restarting' },
    );
    for (const repo of this.multiplexed) {
      const runner = this.app.runner(repo);
      const loaded = new Set<string>();
      for (const r of runner?.loadedModels() ?? []) loaded.add(r);
      const ids = runner?.ready ? ((await this.app.call(repo, 'modelIds', [])) as string[]) : [];
      for (const id of ids) {
        entries.push(loaded.has(id) ? { name: id, state: 'READY' } : { name: id, state: 'UNAVAILABLE', reason: 'not loaded; loads on first request' });
      }
    }
    return entries;
  }

  async metadata(model: string, version?: string): Promise<V2ModelMetadata> {
    const t = this.target(model);
    const info = (await this.app.call(t.deployment, 'metadata', [], t.options)) as ModelInfo;
    const versions = info.versions ?? [DEFAULT_VERSION];
    if (version !== undefined && !versions.includes(version)) {
      throw codedError('NOT_FOUND', `model "${model}" has no version "${version}"; versions: ${versions.join(', ')}`);
    }
    return { name: model, versions, platform: info.platform ?? 'threadserve', inputs: info.inputs, outputs: info.outputs };
  }

  async ready(model: string, version?: string): Promise<boolean> {
    const t = this.target(model);
    if (!(this.app.runner(t.deployment)?.ready ?? false)) return false;
    // A multiplexed id is ready when its model exists (it loads on demand): metadata() proves it.
    if (version !== undefined) await this.checkVersion(t, model, version);
    else if (t.options.multiplexedModelId !== undefined) await this.versions(t);
    return true;
  }

  serverReady(): boolean {
    return this.app.ready;
  }

  async infer(
    model: string,
    version: string | undefined,
    request: V2InferRequest,
    signal?: AbortSignal,
    trace?: CallTrace,
  ): Promise<V2InferResult | ChunkStream<V2InferResult>> {
    const t = this.target(model);
    await this.checkVersion(t, model, version);
    const inputs: Record<string, { data: unknown; dims: number[]; datatype: string }> = {};
    for (const x of request.inputs) inputs[x.name] = { data: x.data, dims: x.shape, datatype: x.datatype };
    const args: unknown[] = [inputs];
    if (request.outputs) args.push(request.outputs.map((o) => o.name));
    const out = await this.app.call(t.deployment, 'predict', args, trace ? { ...t.options, trace } : t.options, signal);
    const toResult = (o: PredictOutput): V2InferResult => {
      const outputs: V2Tensor[] = Object.entries(o).map(([name, x]) => ({ name, datatype: x.datatype, shape: x.dims, data: x.data }));
      return version === undefined ? { outputs } : { outputs, model_version: version };
    };
    if (!(out instanceof ResponseStream)) return toResult(out as PredictOutput);
    // A client that gives up stops the model's generator too.
    signal?.addEventListener('abort', () => void out.cancel(), { once: true });
    return mapChunks(out as ResponseStream<PredictOutput>, toResult);
  }
}
