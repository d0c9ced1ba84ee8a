/**
 * The seam between the Open Inference Protocol (KServe V2) REST layer and the runtime. The
 * plugin knows models only through this interface, so the same routes serve plain deployments,
 * multiplexed per-country models or a test fake. Types only: nothing here runs.
 */
import type { ChunkStream } from '../../shared/response-stream.ts';
import type { CallTrace } from '../../shared/trace-context.ts';

/** A tensor as models see it. `data` is flat, row-major, with `product(shape)` elements. */
export interface V2Tensor {
  name: string;
  /** One of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES. */
  datatype: string;
  shape: number[];
  /**
   * Typed array for numeric types (FP16 as Uint16Array of IEEE half bits, INT64/UINT64 as
   * BigInt64Array/BigUint64Array), boolean[] for BOOL, string[] for BYTES (Uint8Array[] when a
   * binary BYTES tensor is not valid UTF-8, e.g. encoded images). Outputs may also use plain
   * number[] (converted to the datatype) and Uint8Array for BOOL.
   */
  data: ArrayLike<unknown>;
  parameters?: Record<string, unknown>;
}

/** Name, datatype and shape of a model input or output; -1 marks a dynamic dimension. */
export interface V2TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface V2ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: V2TensorMetadata[];
  outputs: V2TensorMetadata[];
}

export type V2ModelState = 'READY' | 'UNAVAILABLE' | 'LOADING';

/** One row of `POST /v2/repository/index`. */
export interface V2ModelIndexEntry {
  name: string;
  version?: string;
  state: V2ModelState;
  reason?: string;
}

/** An output the client asked for; transport parameters (binary_data) are already removed. */
export interface V2RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface V2InferRequest {
  id?: string;
  inputs: V2Tensor[];
  /** When present, only these outputs are returned (the plugin filters again, in this order). */
  outputs?: V2RequestedOutput[];
  /** Request parameters minus transport ones (binary_data_output). */
  parameters?: Record<string, unknown>;
}

export interface V2InferResult {
  outputs: V2Tensor[];
  model_version?: string;
  parameters?: Record<string, unknown>;
}

/**
 * What the runtime implements. Errors thrown from any method should carry a numeric
 * `statusCode` (404 unknown model or version, 503 not ready or overloaded, 408 timeout) and a
 * `message`; the plugin answers with that status and `{"error": message}`, and with a
 * `Retry-After` header when the error has a numeric `retryAfterS`. Other errors answer 500.
 */
export interface ModelRegistry {
  list(): V2ModelIndexEntry[] | Promise<V2ModelIndexEntry[]>;
  /** Throws with statusCode 404 when the model or version is unknown. */
  metadata(model: string, version?: string): Promise<V2ModelMetadata>;
  /** False when known but not ready; throws with statusCode 404 when unknown. */
  ready(model: string, version?: string): Promise<boolean>;
  serverReady(): boolean;
  /**
   * Runs one inference. The plugin does not check `ready` first: a multiplexed model that is
   * not loaded yet is loaded on demand here, so only the registry can say 503. `signal`: the
   * client gave up; a call that has not reached a replica yet should not run. A model whose
   * `predict()` streams (an async generator) answers with a stream of results, one per chunk.
   */
  infer(
    model: string,
    version: string | undefined,
    request: V2InferRequest,
    signal?: AbortSignal,
    trace?: CallTrace,
  ): Promise<V2InferResult | ChunkStream<V2InferResult>>;
}
