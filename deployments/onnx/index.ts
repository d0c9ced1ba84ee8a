/** `threadserve/onnx`: ONNX model deployments (one model, or a multiplexed repository) and their input checks. */
export { OnnxModel, OnnxModelDeployment } from './deployment.ts';
export type { OnnxModelOptions, ModelMetadata, OutputTensor } from './deployment.ts';
export { OnnxRepository, OnnxRepositoryDeployment } from './repository.ts';
export type { OnnxRepositoryOptions } from './repository.ts';
export { checkInput, checkInputs, formatShape, toOrtType, v2Datatype, V2_DATATYPES } from './tensor-check.ts';
export type { CheckedInput, TensorInput, V2Datatype } from './tensor-check.ts';
export { detectCuda } from './execution-providers.ts';
export type { CudaSupport } from './execution-providers.ts';
export { onnxModelVersion, onnxModelVersionOfFile } from './model-version.ts';
