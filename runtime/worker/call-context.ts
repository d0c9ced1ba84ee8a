/**
 * Per-call context inside a replica: which multiplexed model the running call is for (Ray
 * Serve's `get_multiplexed_model_id()`), and a channel for the replica's model cache to tell
 * the router which models it holds.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReplicaEvent } from '../shared/protocol.ts';

const modelIdStore = new AsyncLocalStorage<string>();
const REPORTER = Symbol.for('threadserve.modelReporter');

/** Runs `fn` with `modelId` as the current call's multiplexed model id. */
export function runWithModelId<T>(modelId: string, fn: () => T): T {
  return modelIdStore.run(modelId, fn);
}

/** The multiplexed model id of the call being served (header, handle option or V2 path), if any. */
export function multiplexedModelId(): string | undefined {
  return modelIdStore.getStore();
}

type Reporter = (ids: string[]) => void;

const EVENT_SINK = Symbol.for('threadserve.replicaEvents');

/** Set by the replica host: where batch queues and model caches report what they did. */
export function setEventSink(sink: (e: ReplicaEvent) => void): void {
  (globalThis as Record<symbol, unknown>)[EVENT_SINK] = sink;
}

/** Reports one event; a no-op outside a replica (unit tests). */
export function reportEvent(e: ReplicaEvent): void {
  ((globalThis as Record<symbol, unknown>)[EVENT_SINK] as ((e: ReplicaEvent) => void) | undefined)?.(e);
}

/** Set by the replica host: where model caches report the ids they hold. */
export function setModelReporter(report: Reporter): void {
  (globalThis as Record<symbol, unknown>)[REPORTER] = report;
}

/** Called by a model cache whenever its set of loaded models changes. */
export function reportModels(ids: string[]): void {
  const report = (globalThis as Record<symbol, unknown>)[REPORTER] as Reporter | undefined;
  report?.(ids);
}

const LOAD_TURNS = Symbol.for('threadserve.loadTurns');

type TakeLoadTurn = (max: number) => Promise<() => void>;

/** Set by the replica host: takes one of the deployment's load turns (shared by all its replicas). */
export function setLoadTurns(take: TakeLoadTurn): void {
  (globalThis as Record<symbol, unknown>)[LOAD_TURNS] = take;
}

const noTurnToGive = () => undefined;

/**
 * Waits until fewer than `max` model loads run in this replica's deployment, then counts this
 * one; resolves with the function that ends it. Outside a replica there is nothing to share.
 */
export function takeLoadTurn(max: number): Promise<() => void> {
  const take = (globalThis as Record<symbol, unknown>)[LOAD_TURNS] as TakeLoadTurn | undefined;
  return take ? take(max) : Promise.resolve(noTurnToGive);
}

const LOADING = Symbol.for('threadserve.loadingReporter');

/** Set by the replica host: where model caches say a load or unload starts (+1) and ends (-1). */
export function setLoadingReporter(report: (delta: number) => void): void {
  (globalThis as Record<symbol, unknown>)[LOADING] = report;
}

/**
 * Runs `fn` (a model load or unload) with the replica marked as loading, so routers keep warm
 * calls off this thread meanwhile. The mark goes up before fn starts and down when it settles.
 */
export async function whileLoading<T>(fn: () => Promise<T> | T): Promise<T> {
  const report = (globalThis as Record<symbol, unknown>)[LOADING] as ((delta: number) => void) | undefined;
  report?.(1);
  try {
    return await fn();
  } finally {
    report?.(-1);
  }
}
