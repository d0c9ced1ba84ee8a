/**
 * `@batch(options)`: Ray Serve's @serve.batch for a replica method. The method is written over
 * a batch (`items: Batch<X>` -> one result per item); callers call it with ONE item and get
 * ONE result, and concurrent callers are grouped by a per-instance BatchQueue.
 *
 * Typing: declare the parameter as `Batch<X>` (runtime/shared/batch-types.ts) so handles see
 * the per-item signature `(item: X) => Promise<Y>`. Calls from inside the class itself
 * (`this.predict(x)`) still type as the array form; cast there, or call a handle.
 *
 * Two forms:
 *   class Model { @batch({ maxBatchSize: 8 }) async predict(items: Batch<X>): Promise<Y[]> {...} }
 *   const predictOne = batch(async function (this: Model, items: X[]) {...}, { maxBatchSize: 8 });
 *   class Model { predict(x: X): Promise<Y> { return predictOne.call(this, x); } }
 * The function form needs no brand (the per-item signature is written out) and suits code that
 * wants its own types to say exactly what runs.
 */
import { realClock } from '../shared/clock.ts';
import type { Clock } from '../shared/clock.ts';
import { BatchQueue, resolveBatchOptions } from './batch-queue.ts';
import { MethodState, decoratorOrFunction, instanceProblem } from './method-state.ts';
import type { BatchHandler, BatchOptionsInput } from './batch-queue.ts';

export { BatchQueue, BATCH_DEFAULTS, resolveBatchOptions } from './batch-queue.ts';
export type { BatchHandler, BatchListener, BatchOptions, BatchOptionsInput } from './batch-queue.ts';
export { realClock } from '../shared/clock.ts';
export type { Clock } from '../shared/clock.ts';
export type { Batch, PerItem } from '../shared/batch-types.ts';

export interface BatchDecoratorOptions extends BatchOptionsInput {
  /** Tests pass a fake clock; everything else uses the real one. */
  clock?: Clock;
}

/** The batch-shaped method as written (the decorator does not change its declared type). */
type BatchMethod<This, I, O> = (this: This, items: I[]) => PromiseLike<ReadonlyArray<O | Error>> | ReadonlyArray<O | Error>;

/** What the decorator accepts: one array parameter in, an array (or a promise of one) out. */
type AnyBatchMethod<This> = (this: This, items: any[]) => PromiseLike<ReadonlyArray<unknown>> | ReadonlyArray<unknown>;

type PerItemMethod<This, I, O> = (this: This, item: I) => Promise<O>;

/** One queue per (instance, batched method). */
const queues = new MethodState<BatchQueue<unknown, unknown>>('batched', 'decorate it with @batch() or build it with batch(fn)');

function makePerItem<This, I, O>(method: BatchMethod<This, I, O>, options: BatchDecoratorOptions, label: string): PerItemMethod<This, I, O> {
  const { clock = realClock, ...rest } = options;
  // Validate at definition time, so a bad option fails when the class is imported, not on the
  // first request.
  const resolved = resolveBatchOptions(rest, `@batch ${label}`);
  const wrapper = function (this: This, item: I): Promise<O> {
    const problem = instanceProblem(this, label, 'batched');
    if (problem) return Promise.reject(problem);
    return queueFor(this as object).submit(item) as Promise<O>;
  };
  const queueFor = queues.register(wrapper, (instance) => {
    const handler = ((items: I[]) => method.call(instance as This, items)) as BatchHandler<unknown, unknown>;
    return new BatchQueue(handler, resolved, clock, label);
  });
  return wrapper;
}

/** Decorator form: `@batch({ maxBatchSize: 8, batchWaitTimeoutS: 0.005 }) async predict(items: Batch<X>)`. */
export function batch(options?: BatchDecoratorOptions): <This, M extends AnyBatchMethod<This>>(method: M, context: ClassMethodDecoratorContext<This, M>) => M;
/** Function form: returns a per-item method to call with `.call(this, item)` or put on a prototype. */
export function batch<This, I, O>(method: BatchMethod<This, I, O>, options?: BatchDecoratorOptions): PerItemMethod<This, I, O>;
export function batch(a?: unknown, b?: unknown): unknown {
  // The decorator's replacement differs from the declared type on purpose (see the header).
  return decoratorOrFunction<BatchDecoratorOptions>('batch', a, b, (method, options, label) =>
    makePerItem(method as BatchMethod<unknown, unknown, unknown>, options, label),
  );
}

/**
 * The queue behind a batched method on one instance, created if no call made it yet, so a
 * deployment's reconfigure() can resize it before traffic: `batchQueueOf(this, 'predict')
 * .setMaxBatchSize(cfg.maxBatchSize)`. Accepts a method name or a function-form wrapper.
 */
export function batchQueueOf<I = unknown, O = unknown>(instance: object, method: string | symbol | Function): BatchQueue<I, O> {
  return queues.of(instance, method) as BatchQueue<I, O>;
}
