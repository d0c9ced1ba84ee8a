/**
 * The ONNX model deployment users compose: `OnnxModelDeployment.options({ name, numReplicas,
 * numGpus }).bind({ path })`. Each replica loads the file once (in `init`), takes its GPU
 * from the runtime's assignment, and is served over handles (`predict`) and the Open
 * Inference Protocol at /v2/models/<name>.
 */
import { deployment } from 'threadserve';
import { OnnxModel } from './onnx-model.ts';

export const OnnxModelDeployment = deployment(OnnxModel, { maxOngoingRequests: 4 });
export { OnnxModel };
export type { OnnxModelOptions, ModelMetadata, OutputTensor } from './onnx-model.ts';
