/** Options, counters and their checks for ModelCache (model-cache.ts). */
import os from 'node:os';
import { OptionsError } from '../shared/errors.ts';

/** 'frequency': TinyLFU admission in front of LRU eviction; 'lru': every loaded model is cached. */
export type ModelAdmission = 'frequency' | 'lru';

export const MODEL_ADMISSIONS: readonly ModelAdmission[] = ['frequency', 'lru'];

export interface ModelCacheOptions<M> {
  /** Ray Serve's max_num_models_per_replica. */
  maxNumModelsPerReplica: number;
  /** Default 'frequency'. */
  admission?: ModelAdmission;
  /**
   * Model loads that may run at once across the deployment's replicas. Default: half the
   * machine's cores (at least 1), see defaultMaxConcurrentLoads.
   */
  maxConcurrentLoads?: number;
  /** Frees a model after eviction; errors are counted and reported, never thrown to callers. */
  unload?: (model: M, id: string) => Promise<void> | void;
  /** Where unload errors go; default: a process warning. */
  onUnloadError?: (err: unknown, id: string) => void;
}

export interface ModelCacheStats {
  /** Requests that found the model loaded or already loading (joining a load counts). */
  hits: number;
  /** Requests that started a load. */
  misses: number;
  /** Models taken into the cache: misses it had room for or that won admission, and served-only models promoted later. */
  admitted: number;
  /** Misses that lost admission to the model they would have evicted: loaded for their callers only. */
  rejected: number;
  /** Loads that succeeded. */
  loads: number;
  evictions: number;
  /** Models in memory now: loading, cached or served-only, until their unload finishes. */
  resident: number;
  /** The most models that were in memory at once (what the memory budget must allow for). */
  peakResident: number;
  loadErrors: number;
  unloadErrors: number;
}

/** Gets the loaded model ids, most recently used first, whenever that set changes. */
export type ModelIdsListener = (ids: string[]) => void;

/** Validates an admission policy name; `where` prefixes the message. */
export function checkAdmission(a: unknown, where?: string): ModelAdmission {
  if (!MODEL_ADMISSIONS.includes(a as ModelAdmission)) {
    throw new OptionsError(
      `${where ? `${where}: ` : ''}admission must be one of ${MODEL_ADMISSIONS.map((x) => `"${x}"`).join(', ')}, got ${JSON.stringify(a) ?? String(a)}`,
    );
  }
  return a as ModelAdmission;
}

/** A positive integer option, or an OptionsError naming it; `where` (e.g. "@multiplexed getModel()") prefixes the message. */
function positiveInteger(name: string, n: unknown, where: string | undefined): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new OptionsError(`${where ? `${where}: ` : ''}${name} must be a positive integer, got ${typeof n === 'string' ? JSON.stringify(n) : String(n)}`);
  }
  return n;
}

/** Validates the cap; `where` prefixes the message. */
export function checkMaxModels(n: unknown, where?: string): number {
  return positiveInteger('maxNumModelsPerReplica', n, where);
}

/**
 * Half the cores, at least one: a load (onnxruntime building a session) is CPU work that holds
 * its replica's thread, so loads that took every core would leave none to the calls whose
 * models are already loaded.
 */
export function defaultMaxConcurrentLoads(cores: number = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/** Validates the deployment-wide load cap; `where` prefixes the message. */
export function checkMaxConcurrentLoads(n: unknown, where?: string): number {
  return positiveInteger('maxConcurrentLoads', n, where);
}

export function emptyStats(): ModelCacheStats {
  return { hits: 0, misses: 0, admitted: 0, rejected: 0, loads: 0, evictions: 0, resident: 0, peakResident: 0, loadErrors: 0, unloadErrors: 0 };
}

/** Who hears of the loaded ids (the replica host, which tells the routers), told only of changes. */
export class IdsListeners {
  private readonly listeners = new Set<ModelIdsListener>();
  private last = '';

  add(listener: ModelIdsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `force`: tell even an unchanged list (reordering by hits is not a change). */
  tell(ids: string[], force: boolean): void {
    const key = [...ids].sort().join('\u0000');
    if (key === this.last && !force) return;
    this.last = key;
    for (const l of this.listeners) {
      try {
        l(ids);
      } catch (err) {
        // A listener (the host telling the router) must not corrupt the cache's state.
        process.emitWarning(`model cache listener failed: ${String(err)}`, 'ThreadserveWarning');
      }
    }
  }
}
