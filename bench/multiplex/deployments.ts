/**
 * Deployments for bench/multiplex/run.ts: the model repository, unchanged but for one extra output
 * tensor, `cache_hit` ([1] FP32: 1 = the model was loaded in the replica when the call arrived,
 * 0 = the call waited for a load, its own or a concurrent one). It lets the load generator split
 * user-seen latency into warm and cold requests exactly, instead of guessing from a latency
 * threshold. The extra output is not free (one more tensor through the replica, the port and
 * the V2 JSON encoder: several µs of CPU per request), so the single-model baseline it is
 * compared with answers the same extra output (always 1): both pay it, the difference is
 * multiplexing.
 */
import { deployment, modelCacheOf, multiplexedModelId } from 'threadserve';
import { OnnxModel } from '../../deployments/onnx/onnx-model.ts';
import { OnnxRepository, REPOSITORY_DEPLOYMENT_DEFAULTS } from '../../deployments/onnx/repository.ts';
import type { OutputTensor } from '../../deployments/onnx/onnx-model.ts';
import type { TensorInput } from '../../deployments/onnx/tensor-check.ts';

export class FlaggedOnnxRepository extends OnnxRepository {
  override async predict(inputs: Record<string, TensorInput>, outputNames?: string[]): Promise<Record<string, OutputTensor>> {
    const id = multiplexedModelId();
    const warm = id !== undefined && modelCacheOf(this, '_load').has(id);
    const outputs = await super.predict(inputs, outputNames);
    // A plain array, not a typed array: no extra buffer to transfer back to the main thread.
    outputs.cache_hit = { data: [warm ? 1 : 0] as unknown as Float32Array, dims: [1], datatype: 'FP32' };
    return outputs;
  }
}

export const FlaggedRepositoryDeployment = deployment(FlaggedOnnxRepository, REPOSITORY_DEPLOYMENT_DEFAULTS);

/** The single-model baseline with the same extra output as FlaggedOnnxRepository. */
export class FlaggedOnnxModel extends OnnxModel {
  override async predict(inputs: Readonly<Record<string, TensorInput>>, outputNames?: readonly string[]): Promise<Record<string, OutputTensor>> {
    const outputs = await super.predict(inputs, outputNames);
    outputs.cache_hit = { data: [1] as unknown as Float32Array, dims: [1], datatype: 'FP32' };
    return outputs;
  }
}

export const FlaggedModelDeployment = deployment(FlaggedOnnxModel, { maxOngoingRequests: 4 });
