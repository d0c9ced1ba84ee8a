/**
 * Loads the Open Inference Protocol's gRPC service from the .proto this package ships (copied
 * next to the compiled modules by `npm run build`), and the TypeScript shapes
 * of its messages as @grpc/proto-loader hands them over: snake_case names as in the .proto,
 * 64-bit integers as decimal strings (exact, where JavaScript numbers would round past 2^53),
 * bytes as Buffers, repeated fields and maps always present.
 */
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_PROTO_PATH } from './proto-path.ts';
export const SERVICE_NAME = 'inference.GRPCInferenceService';

/** Decimal text on the way in; numbers or text on the way out. */
type Int64 = string | number;

export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  double_param?: number;
  uint64_param?: Int64;
}

export type Parameters = Record<string, InferParameter>;

export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64[];
  uint_contents?: number[];
  uint64_contents?: Int64[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters: Parameters;
  /** null when absent (raw_input_contents carries the data instead). */
  contents?: TensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Parameters;
  inputs: InferInputTensor[];
  outputs: Array<{ name: string; parameters: Parameters }>;
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Parameters;
  contents?: TensorContents;
}

export interface ModelInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: InferOutputTensor[];
  raw_output_contents?: Uint8Array[];
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** ModelReady and ModelMetadata requests. */
export interface ModelRef {
  name: string;
  version: string;
}

/** The service definition, for `server.addService` (and for clients in tests and benchmarks). */
export function loadInferenceService(): ServiceDefinition {
  const definition = loadSync(GRPC_PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: true, arrays: true, objects: true, oneofs: true });
  const pkg = loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: { service: ServiceDefinition } } };
  return pkg.inference.GRPCInferenceService.service;
}
