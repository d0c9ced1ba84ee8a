/**
 * `@multiplexed({ maxNumModelsPerReplica })`: Ray Serve's @serve.multiplexed for a replica's
 * model-loading method. The decorated method stays the loader; callers get the model from a
 * per-instance ModelCache (shared loads, frequency admission, LRU eviction, unload after the
 * last user).
 *
 *   class Forecast {
 *     @multiplexed({ maxNumModelsPerReplica: 3 })
 *     async getModel(modelId: string): Promise<OnnxModel> { return OnnxModel.load(await modelPath(dir, modelId)); }
 *     async predict(x: Features) { const m = await this.getModel(multiplexedModelId()!); return m.run(x); }
 *   }
 *
 * The method's type is unchanged (it takes an id and returns a model), so no typing helper is
 * needed. Called with no id, it uses the running call's `multiplexedModelId()`.
 *
 * Each cache reports its loaded ids through call-context's reportModels, so the router can
 * prefer replicas that hold a request's model. Name the method with a leading `_` (e.g.
 * `_getModel`) to keep it off handles: a model cannot be sent between threads anyway.
 */
import { codedError } from '../shared/error-codes.ts';
import { multiplexedModelId, reportModels } from './call-context.ts';
import { ModelCache, checkAdmission, checkMaxConcurrentLoads, checkMaxModels, defaultMaxConcurrentLoads } from './model-cache.ts';
import type { ModelAdmission } from './model-cache.ts';
import { MethodState, decoratorOrFunction, instanceProblem } from './method-state.ts';
import { MULTIPLEXED_MARK } from '../shared/handle.ts';

export interface MultiplexedOptions<M = unknown> {
  /** Ray Serve's default is 3. */
  maxNumModelsPerReplica?: number;
  /**
   * 'frequency' (default): a model that would evict another is cached only when asked for
   * more often lately (TinyLFU); otherwise it is loaded for its calls and unloaded after them.
   * 'lru': every model is cached, the least recently used evicted (Ray Serve's behaviour).
   */
  admission?: ModelAdmission;
  /**
   * Loads that run at once across all the deployment's replicas (default: half the cores, at
   * least 1). A load holds its replica's thread and a core; the cap leaves the other cores to
   * calls whose models are loaded. Give every multiplexed method of a deployment the same value.
   */
  maxConcurrentLoads?: number;
  /** Frees an evicted model; default `releaseModel`. */
  unload?: (model: M, id: string) => Promise<void> | void;
}

type LoadMethod<This, M> = (this: This, modelId: string) => Promise<M>;
type AnyLoadMethod<This> = (this: This, modelId: string) => PromiseLike<unknown>;

/**
 * The default unload: the first of `release()` (onnxruntime sessions), `shutdown()`,
 * `dispose()` the model has. Only one: calling two of them could free the same memory twice.
 */
export async function releaseModel(model: unknown): Promise<void> {
  if (model === null || (typeof model !== 'object' && typeof model !== 'function')) return;
  const m = model as Record<string, unknown>;
  for (const name of ['release', 'shutdown', 'dispose']) {
    if (typeof m[name] === 'function') {
      await (m[name] as () => unknown).call(model);
      return;
    }
  }
}

/** One ModelCache per (instance, loader). */
const caches = new MethodState<ModelCache<unknown>>('multiplexed', 'decorate it with @multiplexed() or build it with multiplexed(fn)');

/** Every multiplexed cache of the instance, in one list: a class may multiplex two kinds. */
function reportFor(instance: object): void {
  const ids = new Set<string>();
  for (const c of caches.all(instance)) for (const id of c.ids()) ids.add(id);
  reportModels([...ids]);
}

function makeLoader<This, M>(load: LoadMethod<This, M>, options: MultiplexedOptions<M>, label: string) {
  const { maxNumModelsPerReplica = 3, unload = releaseModel, admission = 'frequency', maxConcurrentLoads = defaultMaxConcurrentLoads() } = options;
  // Checked here so bad options fail when the class is defined, not on the first request.
  checkMaxModels(maxNumModelsPerReplica, `@multiplexed ${label}`);
  checkAdmission(admission, `@multiplexed ${label}`);
  checkMaxConcurrentLoads(maxConcurrentLoads, `@multiplexed ${label}`);
  const wrapper = function (this: This, modelId?: string): Promise<M> {
    const problem = instanceProblem(this, label, 'multiplexed');
    if (problem) return Promise.reject(problem);
    const id = modelId ?? multiplexedModelId();
    if (id === undefined) {
      return Promise.reject(codedError('MODEL_ID_REQUIRED', `${label} needs a model id: pass one, or send the serve_multiplexed_model_id header`));
    }
    return cacheFor(this as object).get(id) as Promise<M>;
  };
  const cacheFor = caches.register(wrapper, (instance) => {
    const cache = new ModelCache<M>((id) => load.call(instance as This, id), { maxNumModelsPerReplica, unload, admission, maxConcurrentLoads });
    cache.onChange(() => reportFor(instance));
    return cache as ModelCache<unknown>;
  });
  // The main thread reads this mark off the class to serve the deployment's model ids over V2.
  Object.defineProperty(wrapper, MULTIPLEXED_MARK, { value: true });
  return wrapper;
}

/** Decorator form: `@multiplexed({ maxNumModelsPerReplica: 3 }) async getModel(modelId: string)`. */
export function multiplexed(options?: MultiplexedOptions): <This, F extends AnyLoadMethod<This>>(method: F, context: ClassMethodDecoratorContext<This, F>) => F;
/** Function form: a cached getter over a loader; call it with `.call(this, id)`. */
export function multiplexed<This, M>(load: LoadMethod<This, M>, options?: MultiplexedOptions<M>): (this: This, modelId?: string) => Promise<M>;
export function multiplexed(a?: unknown, b?: unknown): unknown {
  return decoratorOrFunction<MultiplexedOptions>('multiplexed', a, b, (load, options, label) =>
    makeLoader(load as LoadMethod<unknown, unknown>, options, label),
  );
}

/** The cache behind a multiplexed method on one instance (created if needed), for reconfigure. */
export function modelCacheOf<M = unknown>(instance: object, method: string | symbol | Function): ModelCache<M> {
  return caches.of(instance, method) as ModelCache<M>;
}

/** Unloads every multiplexed model of an instance: for the replica host after shutdown(). */
export async function clearModelCaches(instance: object): Promise<void> {
  await Promise.all(caches.all(instance).map((c) => c.clear()));
}
