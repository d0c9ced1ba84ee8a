/**
 * The multiplexed-model cache of one replica (Ray Serve's @serve.multiplexed): models are
 * loaded on first use, kept in least-recently-used order, and the least recently used one is
 * evicted when a new one needs room beyond maxNumModelsPerReplica.
 *
 * Rules, and why:
 * - Admission (TinyLFU): with `admission: 'frequency'` (the default) a model that would evict
 *   another is cached only when it has been asked for more often lately than that victim
 *   (frequency-sketch.ts). Under skewed traffic plain LRU lets every one-off request of a
 *   rarely used model throw out a popular one; here the rare model is still served, loaded
 *   for the calls that want it (shared by concurrent callers) and unloaded after its last
 *   user, and the popular one stays. `admission: 'lru'` caches every model (Ray Serve's rule).
 * - Concurrent requests for a model that is still loading share that one load: loading the
 *   same weights twice wastes the memory the cap is there to protect.
 * - A failed load is not cached: every waiter gets the load error, the next request retries
 *   (a model file copied in a moment later, a transient network error).
 * - A model is never unloaded under a running call. `use(id, fn)` pins it for fn; `get(id)`
 *   inside `withModelLeases(...)` (meant to wrap every call in the replica host) pins it
 *   until that call ends. Eviction removes the model from the cache at once, but calls
 *   `unload` only when its last user is done: in JS, unloading (`session.release()`) frees
 *   native memory, unlike Python where a live reference keeps the model usable. A `get()`
 *   outside any call cannot be pinned, so it always caches (it has no "last user").
 * - One copy of a model per replica. A model evicted (or cleared) while calls still use it
 *   stays in memory until they end, and until then a call that asks for it again gets that
 *   copy back: put back in the cache when admission would cache it (a hit, no load), served
 *   as it is otherwise. Loading a second copy would spend the memory twice, and a call that
 *   asked twice would hold both (its leases are per copy). A load of a model whose previous
 *   copy is being unloaded waits for that unload.
 * - A new load waits for the unload of idle victims, so old and new weights do not sit in
 *   memory together; it does not wait for victims still in use (that could deadlock a call
 *   using two models with a cap of one). Loads of different models are not serialised: when
 *   more models are loading than the cap allows, the surplus is trimmed as loads finish.
 * - Memory: at most maxNumModelsPerReplica cached models, plus one served-only model (and
 *   models evicted while in use, until their calls end), are in memory at once. Loads take
 *   turns (load-turns.ts: one at a time in the replica, maxConcurrentLoads across the
 *   deployment), and a served-only load waits until the previous
 *   served-only model is unloaded, unless the waiting call itself holds one (it would wait for
 *   itself). `use()` never waits for that (a nested use() could deadlock).
 * - Loads and unloads run marked as loading (call-context's whileLoading): onnxruntime blocks
 *   the thread for them, and the routers keep warm calls away from a replica meanwhile.
 */
import { inCall, leaseForCurrentCall, pinnedInCall } from './model-leases.ts';
import { Semaphore } from './semaphore.ts';
import { reportEvent, whileLoading } from './call-context.ts';
import { LoadTurns } from './load-turns.ts';
import { FrequencySketch } from './frequency-sketch.ts';
import { checkAdmission, checkMaxModels } from './model-cache-options.ts';
import type { ModelAdmission, ModelCacheOptions, ModelCacheStats, ModelIdsListener } from './model-cache-options.ts';

export { withModelLeases } from './model-leases.ts';

export { MODEL_ADMISSIONS, checkAdmission, checkMaxConcurrentLoads, checkMaxModels, defaultMaxConcurrentLoads } from './model-cache-options.ts';
import { IdsListeners, emptyStats } from './model-cache-options.ts';
export type { ModelAdmission, ModelCacheOptions, ModelCacheStats, ModelIdsListener } from './model-cache-options.ts';

interface Entry<M> {
  readonly id: string;
  promise: Promise<M>;
  model?: M;
  ready: boolean;
  /** Out of the cache (evicted or cleared); unloaded once `users` reaches 0. */
  removed: boolean;
  /** Not admitted: held only for the calls using it, unloaded after the last one. */
  transient: boolean;
  /** Served-only and may wait for the served-only slot (see the rules above). */
  waitsForRoom: boolean;
  /** The served-only slot, held from before the load until the unload. */
  room?: () => void;
  users: number;
  /** Resolved when `users` drops to 0 (retire waits on it). */
  idle?: { promise: Promise<void>; resolve: () => void };
  /** Set once the unload starts: from then on the copy cannot be taken back. */
  unloading?: Promise<void>;
  /** The unload of this id's previous copy, which the load waits for. */
  after?: Promise<void>;
}

export class ModelCache<M> {
  /** Map order is recency order: least recently used first, so eviction takes the first ready one. */
  private readonly entries = new Map<string, Entry<M>>();
  /** Models served but not admitted, while calls use them. */
  private readonly transient = new Map<string, Entry<M>>();
  /** Models out of the cache that are not unloaded yet (in use, or unloading): one per id. */
  private readonly leaving = new Map<string, Entry<M>>();
  /** One load at a time. */
  /** One served-only model in memory at a time. */
  private readonly servedOnlyRoom = new Semaphore(1);
  private max: number;
  private readonly turns: LoadTurns;
  private sketch: FrequencySketch | undefined;
  private readonly counts: ModelCacheStats = emptyStats();
  private readonly idsListeners = new IdsListeners();

  constructor(
    private readonly load: (id: string) => Promise<M>,
    private readonly options: ModelCacheOptions<M>,
  ) {
    this.max = checkMaxModels(options.maxNumModelsPerReplica);
    this.turns = new LoadTurns(options.maxConcurrentLoads);
    this.setAdmission(options.admission ?? 'frequency');
  }

  get admission(): ModelAdmission {
    return this.sketch ? 'frequency' : 'lru';
  }

  /** Switches the admission policy (for init/reconfigure); frequency counts start afresh. */
  setAdmission(admission: ModelAdmission): void {
    // Counters for far more ids than slots keep collisions rare (1000 ids: ~1 in 1000 per row);
    // a window of 8 counts per counter ages the counts within seconds at 1000 requests/s.
    const width = Math.max(1024, 64 * this.max);
    this.sketch = checkAdmission(admission) === 'frequency' ? new FrequencySketch(width, 8 * width) : undefined;
  }

  /** The model for `id`, loading it on a miss. Pinned until the enclosing withModelLeases ends. */
  get(id: string): Promise<M> {
    const entry = this.lookup(id, inCall(), true);
    leaseForCurrentCall(
      entry,
      () => entry.users++,
      () => this.release(entry),
    );
    return entry.promise;
  }

  /** Runs fn with the model pinned: it is not unloaded before fn settles. */
  async use<R>(id: string, fn: (model: M) => R | PromiseLike<R>): Promise<R> {
    const entry = this.lookup(id, true, false);
    entry.users++; // before any await, so an eviction in between cannot unload it
    try {
      return await fn(await entry.promise);
    } finally {
      this.release(entry);
    }
  }

  /** Loaded models, most recently used first (loading ones are not listed). */
  ids(): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) if (e.ready) out.push(e.id);
    return out.reverse();
  }

  has(id: string): boolean {
    return this.entries.get(id)?.ready === true;
  }

  stats(): ModelCacheStats {
    return { ...this.counts };
  }

  get maxNumModelsPerReplica(): number {
    return this.max;
  }

  /** Called when the set of loaded ids changes (not on mere reordering by hits). */
  onChange(listener: ModelIdsListener): () => void {
    return this.idsListeners.add(listener);
  }

  /** For reconfigure(): a lower cap evicts at once; resolves when idle victims are unloaded. */
  async setMaxNumModelsPerReplica(n: number): Promise<void> {
    this.max = checkMaxModels(n);
    await this.trim(undefined);
  }

  get maxConcurrentLoads(): number {
    return this.turns.maxConcurrentLoads;
  }

  /** For init/reconfigure: loads that may run at once across the deployment (give every replica the same). */
  setMaxConcurrentLoads(n: number): void {
    this.turns.setMaxConcurrentLoads(n);
  }

  /** Unloads everything (replica shutdown); models in use are unloaded when their users finish. */
  async clear(): Promise<void> {
    const all = [...this.entries.values(), ...this.transient.values()];
    this.entries.clear();
    this.transient.clear();
    this.changed();
    await Promise.all(all.map((e) => this.retire(e)));
  }

  /**
   * `pinnable`: the caller will hold the entry while it uses it, so it may be served uncached;
   * `mayWait`: a served-only load may wait for the previous served-only model to go.
   */
  private lookup(id: string, pinnable: boolean, mayWait: boolean): Entry<M> {
    if (typeof id !== 'string') throw new TypeError(`model id must be a string, got ${typeof id}`);
    this.sketch?.record(id);
    let entry = this.entries.get(id);
    if (entry) {
      this.hit();
      this.entries.delete(id);
      this.entries.set(id, entry);
      return entry;
    }
    entry = this.transient.get(id);
    if (entry) {
      this.hit();
      // Asked for often enough by now: keep it instead of loading it again after this call.
      if (this.admits(id)) this.promote(entry);
      return entry;
    }
    const previous = this.leaving.get(id);
    if (previous && !previous.unloading) {
      // Still in memory for the calls using it: reuse it (see "One copy of a model" above).
      this.hit();
      if (!pinnable || this.admits(id)) this.promote(previous);
      return previous;
    }
    this.counts.misses++;
    reportEvent({ kind: 'model', event: 'miss' });
    const admit = !pinnable || this.admits(id);
    const waitsForRoom = !admit && mayWait && !this.callHoldsServedOnly();
    entry = {
      id,
      promise: undefined as unknown as Promise<M>,
      ready: false,
      removed: false,
      transient: !admit,
      waitsForRoom,
      users: 0,
      after: previous?.unloading,
    };
    if (admit) {
      this.counts.admitted++;
      reportEvent({ kind: 'model', event: 'admitted' });
      this.entries.set(id, entry);
    } else {
      this.counts.rejected++;
      reportEvent({ kind: 'model', event: 'rejected' });
      this.transient.set(id, entry);
    }
    entry.promise = this.loadInto(entry);
    // Callers get the rejection; this only stops an unobserved failure crashing the thread.
    entry.promise.catch(() => undefined);
    return entry;
  }

  private hit(): void {
    this.counts.hits++;
    reportEvent({ kind: 'model', event: 'hit' });
  }

  /** TinyLFU's rule: room left, or asked for more often than the model it would evict. */
  private admits(id: string): boolean {
    if (!this.sketch || this.entries.size < this.max) return true;
    let victim: Entry<M> | undefined;
    for (const e of this.entries.values()) {
      victim ??= e;
      if (e.ready) {
        victim = e;
        break;
      }
    }
    return victim === undefined || this.sketch.estimate(id) > this.sketch.estimate(victim.id);
  }

  /** The running call holds a served-only model of this cache (waiting for the slot would wait for itself). */
  private callHoldsServedOnly(): boolean {
    for (const e of this.transient.values()) if (pinnedInCall(e)) return true;
    return false;
  }

  /** Into the cache: a served-only model, or one out of it that is still in memory. */
  private promote(entry: Entry<M>): void {
    if (this.transient.get(entry.id) === entry) this.transient.delete(entry.id);
    if (this.leaving.get(entry.id) === entry) this.leaving.delete(entry.id);
    entry.transient = false;
    entry.removed = false;
    // Now one of the cached models: it gives the served-only slot back (trim makes room).
    entry.room?.();
    entry.room = undefined;
    this.entries.set(entry.id, entry);
    this.counts.admitted++;
    reportEvent({ kind: 'model', event: 'admitted' });
    if (entry.ready) {
      this.changed();
      void this.trim(entry);
    } // still loading: loadInto finishes the job
  }

  private async loadInto(entry: Entry<M>): Promise<M> {
    if (entry.after) await entry.after; // never rejects
    if (entry.waitsForRoom) {
      const room = await this.servedOnlyRoom.acquire();
      if (entry.transient) entry.room = room;
      else room(); // promoted while waiting
    }
    if (!entry.transient) await this.trim(entry);
    const queued = performance.now();
    const done = await this.turns.take();
    let model: M;
    const started = performance.now();
    this.counts.resident++;
    this.counts.peakResident = Math.max(this.counts.peakResident, this.counts.resident);
    try {
      model = await whileLoading(() => this.load(entry.id));
    } catch (err) {
      entry.room?.();
      entry.room = undefined;
      this.counts.resident--;
      this.counts.loadErrors++;
      reportEvent({ kind: 'model', event: 'loadError' });
      if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
      if (this.transient.get(entry.id) === entry) this.transient.delete(entry.id);
      if (this.leaving.get(entry.id) === entry) this.leaving.delete(entry.id);
      entry.removed = true;
      throw err;
    } finally {
      done();
    }
    this.counts.loads++;
    reportEvent({ kind: 'model', event: 'load', seconds: (performance.now() - started) / 1000, waitSeconds: (started - queued) / 1000 });
    entry.model = model;
    entry.ready = true;
    if (entry.removed) {
      // Cleared while loading: the waiters still get it, then it goes.
      void this.retire(entry);
    } else if (entry.transient) {
      if (entry.users === 0) this.dropTransient(entry);
    } else {
      this.changed();
      void this.trim(entry); // concurrent loads may have overshot the cap
    }
    return model;
  }

  /** Evicts least recently used loaded models (never `keep`) until the cap holds. */
  private async trim(keep: Entry<M> | undefined): Promise<void> {
    const waits: Promise<void>[] = [];
    let evicted = false;
    // Deleting from a Map while iterating it is well defined: deleted entries are skipped.
    for (const e of this.entries.values()) {
      if (this.entries.size <= this.max) break;
      if (!e.ready || e === keep) continue;
      this.entries.delete(e.id);
      this.counts.evictions++;
      reportEvent({ kind: 'model', event: 'eviction' });
      evicted = true;
      const idle = e.users === 0;
      const done = this.retire(e);
      if (idle) waits.push(done);
    }
    if (evicted) this.changed();
    await Promise.all(waits);
  }

  /** Marks an entry gone and unloads it once its users are done, unless promoted meanwhile. Never rejects. */
  private async retire(entry: Entry<M>): Promise<void> {
    entry.removed = true;
    if (!entry.unloading) this.leaving.set(entry.id, entry);
    if (!entry.ready) return; // still loading: loadInto retires it when the load finishes
    while (entry.removed && entry.users > 0) {
      if (!entry.idle) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        entry.idle = { promise, resolve };
      }
      await entry.idle.promise;
    }
    if (!entry.removed) return; // promoted back into the cache while in use
    entry.unloading ??= this.unload(entry); // evicted, promoted, evicted: one unload
    await entry.unloading;
  }

  private async unload(entry: Entry<M>): Promise<void> {
    const model = entry.model as M;
    entry.model = undefined;
    try {
      const unload = this.options.unload;
      if (unload) await whileLoading(() => unload(model, entry.id));
    } catch (err) {
      this.counts.unloadErrors++;
      const report =
        this.options.onUnloadError ?? ((e: unknown, id: string) => process.emitWarning(`unloading model "${id}" failed: ${String(e)}`, 'ThreadserveWarning'));
      report(err, entry.id);
    } finally {
      this.counts.resident--;
      entry.room?.();
      entry.room = undefined;
      if (this.leaving.get(entry.id) === entry) this.leaving.delete(entry.id);
    }
  }

  private release(entry: Entry<M>): void {
    entry.users--;
    if (entry.users > 0) return;
    if (entry.idle) {
      const { resolve } = entry.idle;
      entry.idle = undefined;
      resolve();
    } else if (entry.transient && entry.ready && !entry.removed) {
      this.dropTransient(entry);
    }
  }

  /** A served-only model's last user is done: unload it. */
  private dropTransient(entry: Entry<M>): void {
    if (this.transient.get(entry.id) === entry) this.transient.delete(entry.id);
    void this.retire(entry);
    // Routers guessed this replica would hold the model once they sent it the call: the same
    // list again corrects them (and the V2 repository index, which shows what replicas hold).
    this.changed(true);
  }

  /** `force`: report even an unchanged list. */
  private changed(force = false): void {
    this.idsListeners.tell(this.ids(), force);
  }
}
