/** threadserve's public surface: everything a user imports comes from here. */
export { deployment, bind } from './shared/deployment.ts';
export type { Deployment, BoundDeployment, BindArgs } from './shared/deployment.ts';
export type { Handle, CallOptions, StreamCall } from './shared/handle.ts';
export { ResponseStream } from './shared/response-stream.ts';
export type { DeploymentOptions, ResolvedDeploymentOptions } from './shared/options.ts';
export type { AutoscalingConfig, ResolvedAutoscalingConfig } from './shared/autoscaling-options.ts';
export type { RequestContext } from './shared/protocol.ts';
export {
  ThreadserveError,
  HttpError,
  BackpressureError,
  ReplicaDiedError,
  DeploymentUnavailableError,
  OptionsError,
  BadCallError,
  TimeoutError,
  RemoteError,
} from './shared/errors.ts';
export { replicaContext } from './worker/replica-context.ts';
export { multiplexedModelId } from './worker/call-context.ts';
export { batch, batchQueueOf, BatchQueue, realClock } from './worker/batching.ts';
export type { Batch, BatchOptions, BatchOptionsInput, BatchHandler, Clock } from './worker/batching.ts';
export { floatToHalf, halfToFloat } from './shared/float16.ts';
export { ownsWholeBuffer } from './shared/transfer.ts';
export { DATATYPE_TABLE, V2_DATATYPES, datatypeInfo, v2FromOnnx } from './shared/datatypes.ts';
export type { DatatypeInfo, OnnxType, TypedArray, TypedArrayConstructor, V2Datatype } from './shared/datatypes.ts';
export { admitMemory, memoryBudgetStats } from './shared/memory-budget.ts';
export type { MemoryLease, MemoryBudgetStats } from './shared/memory-budget.ts';
export { multiplexed, modelCacheOf, releaseModel } from './worker/multiplexed.ts';
export type { ModelAdmission, ModelCache, ModelCacheStats } from './worker/model-cache.ts';
export { FrequencySketch } from './worker/frequency-sketch.ts';
export { safeModelId, modelPath } from './worker/model-repository.ts';
export type { ReplicaContext } from './worker/replica-context.ts';
export type { ServeOptions, ServeInstance } from './main/serve.ts';
export { GRPC_PROTO_PATH } from './main/grpc/proto-path.ts';

import { isMainThread } from 'node:worker_threads';
import type { run as Run } from './main/serve.ts';
// Replica threads import this module too (user code imports 'threadserve') and must not pay
// for fastify, pino, prom-client and piscina (measured: ~24-28 MB and 0.4 CPU-s per replica
// thread), so the serving side loads eagerly on the main thread only, and on first use elsewhere.
const mainSide = isMainThread ? await import('./main/serve.ts') : undefined;
const run: typeof Run = async (...args) => (mainSide ?? (await import('./main/serve.ts'))).run(...args);
/** `serve.run(app, options)` starts an application; see ServeOptions. */
export const serve = Object.freeze({ run });
