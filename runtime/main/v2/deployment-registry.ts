/**
 * The runtime's ModelRegistry: every deployment whose class has `metadata()` and `predict()`
 * (the ONNX model deployment, or any class of the same shape) is a V2 model under its
 * deployment name. Calls go through the deployment's router like any handle call, so limits,
 * backpressure and replica choice apply to V2 traffic too.
 */
import { ThreadserveError } from '../../shared/errors.ts';
import type { Application } from '../application.ts';
import type { ModelRegistry, V2InferRequest, V2InferResult, V2ModelIndexEntry, V2ModelMetadata, V2Tensor } from './model-registry.ts';

/** What `metadata()` of a model deployment returns (OnnxModel's shape). */
interface ModelInfo {
  name?: string;
  platform?: string;
  inputs: V2ModelMetadata['inputs'];
  outputs: V2ModelMetadata['outputs'];
}

/** What `predict()` returns: output name to tensor. */
type PredictOutput = Record<string, { data: ArrayLike<unknown>; dims: number[]; datatype: string }>;

const VERSION = '1';

export class DeploymentModelRegistry implements ModelRegistry {
  private readonly models: string[];

  constructor(private readonly app: Application) {
    this.models = [...app.plan.deployments.values()]
      .filter((d) => d.methods.includes('metadata') && d.methods.includes('predict'))
      .map((d) => d.options.name);
  }

  private model(name: string, version?: string): string {
    if (!this.models.includes(name)) {
      throw new ThreadserveError('NOT_FOUND', `unknown model "${name}"; served models: ${this.models.join(', ') || 'none'}`, 404);
    }
    if (version !== undefined && version !== VERSION) {
      throw new ThreadserveError('NOT_FOUND', `model "${name}" has no version "${version}"; versions: ${VERSION}`, 404);
    }
    return name;
  }

  list(): V2ModelIndexEntry[] {
    return this.models.map((name) => {
      const ready = this.app.runner(name)?.ready ?? false;
      return ready ? { name, version: VERSION, state: 'READY' } : { name, version: VERSION, state: 'UNAVAILABLE', reason: 'replicas starting or restarting' };
    });
  }

  async metadata(model: string, version?: string): Promise<V2ModelMetadata> {
    const name = this.model(model, version);
    const info = (await this.app.call(name, 'metadata', [])) as ModelInfo;
    return { name, versions: [VERSION], platform: info.platform ?? 'threadserve', inputs: info.inputs, outputs: info.outputs };
  }

  async ready(model: string, version?: string): Promise<boolean> {
    return this.app.runner(this.model(model, version))?.ready ?? false;
  }

  serverReady(): boolean {
    return this.app.ready;
  }

  async infer(model: string, version: string | undefined, request: V2InferRequest): Promise<V2InferResult> {
    const name = this.model(model, version);
    const inputs: Record<string, { data: unknown; dims: number[]; datatype: string }> = {};
    for (const t of request.inputs) inputs[t.name] = { data: t.data, dims: t.shape, datatype: t.datatype };
    const args: unknown[] = [inputs];
    if (request.outputs) args.push(request.outputs.map((o) => o.name));
    const out = (await this.app.call(name, 'predict', args)) as PredictOutput;
    const outputs: V2Tensor[] = Object.entries(out).map(([outName, t]) => ({
      name: outName,
      datatype: t.datatype,
      shape: t.dims,
      data: t.data,
    }));
    return { outputs, model_version: VERSION };
  }
}
