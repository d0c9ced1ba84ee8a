/**
 * One router per deployment, on the main thread. Calls from the ingress (and handle calls
 * from replicas that found no linked replica with room) pass here: a call goes to a replica
 * with room (power of two choices on the shared in-flight counts, slot-table.ts), waits in a
 * FIFO queue when all are at maxOngoingRequests, and fails at once with a backpressure error
 * when the queue holds maxQueuedRequests calls already. This queue is the only place calls
 * wait: while it holds any, replicas send their handle calls here too instead of over their
 * direct links, so no caller overtakes the queue.
 */
import { BackpressureError, DeploymentUnavailableError } from '../shared/errors.ts';
import { chooseReplica, chooseReplicaForModel } from '../shared/replica-choice.ts';
import type { Random } from '../shared/replica-choice.ts';
import type { CallObserver } from './metrics.ts';
import type { ModelCandidate } from '../shared/replica-choice.ts';
import type { CallOptions } from '../shared/handle.ts';
import type { SlotTable } from '../shared/slot-table.ts';

interface Queued {
  method: string;
  args: unknown[];
  options: CallOptions;
  enqueuedAt: number;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * What the router needs of a replica (Ray's request router sees a RunningReplica the same
 * way): its in-flight count and held models to choose by, a way to admit one call on its
 * shared slot, and a way to send it. Starting, health and draining are the runner's business.
 */
export interface RoutableReplica extends ModelCandidate {
  /** Takes one of the replica's slots for a call; false when it is full or no longer takes calls. */
  tryAcquire(maxOngoing: number): boolean;
  /** Sends a call admitted with tryAcquire(). */
  call(method: string, args: unknown[], options: CallOptions): Promise<unknown>;
  /** For traces; absent in tests' fakes. */
  readonly id?: string;
  /** The replica is about to load this multiplexed model (until it reports its models). */
  expectModel(modelId: string): void;
}

export interface RouterStats {
  /** Calls that came through this router (from the ingress, or relayed for replicas). */
  requests: number;
  errors: number;
  rejected: number;
  /** Of `requests`, handle calls from replicas that the main thread relayed (no linked replica had room). */
  relayed: number;
  /** Calls that went straight from a caller replica to a replica of this deployment. */
  direct: number;
  directErrors: number;
}

/** Lost compare-and-swap races (another caller took the last slot) before a call queues. */
const ADMIT_ATTEMPTS = 4;
const IDLE_POLL_MS = 10;

export class Router {
  private replicas: RoutableReplica[] = [];
  private queue: Queued[] = [];
  private queueHead = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private idlePoll: NodeJS.Timeout | undefined;
  readonly stats: RouterStats = { requests: 0, errors: 0, rejected: 0, relayed: 0, direct: 0, directErrors: 0 };

  constructor(
    readonly deployment: string,
    private readonly maxOngoing: number,
    private readonly maxQueued: number,
    /** The deployment's shared in-flight table: replicas admit calls on it, the queue length is published in it. */
    private readonly table: SlotTable,
    private readonly observer: CallObserver | undefined = undefined,
    private readonly random: Random = Math.random,
  ) {}

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get inFlight(): number {
    let n = 0;
    for (const r of this.replicas) n += r.inFlight;
    return n;
  }

  /** Replicas that take calls; a replica is added once it is running. */
  add(replica: RoutableReplica): void {
    this.replicas.push(replica);
    this.pump();
  }

  remove(replica: RoutableReplica): void {
    this.replicas = this.replicas.filter((r) => r !== replica);
    this.notifyIdle();
  }

  /** A handle call a replica sent through the main thread (counted apart: direct links should carry most). */
  relay(method: string, args: unknown[], options: CallOptions = {}): Promise<unknown> {
    this.stats.relayed++;
    return this.call(method, args, options);
  }

  /**
   * `signal`: the caller gave up (a gRPC client's deadline or cancellation). A call still in
   * the queue then leaves it and never reaches a replica; one already running finishes there.
   */
  call(method: string, args: unknown[], options: CallOptions = {}, signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.closed) {
      return Promise.reject(new DeploymentUnavailableError(`deployment "${this.deployment}" is shutting down`));
    }
    this.stats.requests++;
    if (this.queued === 0) {
      let replica = this.admit(options.multiplexedModelId);
      if (!replica) {
        // Publish the queue before the last try: a replica that frees a slot at this moment
        // either is seen here, or sees the queue and tells us ('free'). Without this order a
        // call could wait with every replica idle.
        this.table.queued = 1;
        replica = this.admit(options.multiplexedModelId);
        if (replica) this.table.queued = 0;
      }
      if (replica) {
        this.observer?.started(0);
        options.observe?.started(0, replica.id ?? '');
        return this.track(replica.call(method, args, options));
      }
    }
    if (this.maxQueued >= 0 && this.queued >= this.maxQueued) {
      this.table.queued = this.queued;
      this.stats.rejected++;
      this.observer?.rejected();
      return Promise.reject(
        new BackpressureError(`deployment "${this.deployment}" is overloaded: ${this.queued} calls queued (maxQueuedRequests ${this.maxQueued})`),
      );
    }
    return new Promise((resolve, reject) => {
      const q: Queued = { method, args, options, enqueuedAt: performance.now(), resolve, reject };
      this.queue.push(q);
      this.table.queued = this.queued;
      if (signal) this.dropOnAbort(q, signal);
    });
  }

  private dropOnAbort(q: Queued, signal: AbortSignal): void {
    const drop = () => {
      const i = this.queue.indexOf(q, this.queueHead);
      if (i < 0) return; // already handed to a replica
      this.queue.splice(i, 1);
      this.table.queued = this.queued;
      q.reject(signal.reason as Error);
      this.notifyIdle();
    };
    signal.addEventListener('abort', drop, { once: true });
    const settled = () => signal.removeEventListener('abort', drop);
    const { resolve, reject } = q;
    q.resolve = (v) => (settled(), resolve(v));
    q.reject = (e) => (settled(), reject(e));
  }

  /** Calls that replicas served over direct links, reported by the callee replicas. */
  served(durationsS: readonly number[], errors: number): void {
    this.stats.direct += durationsS.length;
    this.stats.directErrors += errors;
    const observer = this.observer;
    if (!observer) return;
    let failures = errors;
    for (const d of durationsS) {
      observer.started(0);
      observer.finished(d, failures-- <= 0);
    }
  }

  /** A replica has room again: hand queued calls out while any replica has room. */
  pump(): void {
    while (this.queued > 0) {
      const q = this.queue[this.queueHead]!;
      const replica = this.admit(q.options.multiplexedModelId);
      if (!replica) break;
      this.queue[this.queueHead++] = undefined as never;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      const waitedS = (performance.now() - q.enqueuedAt) / 1000;
      this.observer?.started(waitedS);
      q.options.observe?.started(waitedS, replica.id ?? '');
      this.track(replica.call(q.method, q.args, q.options)).then(q.resolve, q.reject);
    }
    this.table.queued = this.queued;
    this.notifyIdle();
  }

  /** A replica with room, its slot already taken for the call; undefined when all are full. */
  private admit(modelId: string | undefined): RoutableReplica | undefined {
    for (let attempt = 0; attempt < ADMIT_ATTEMPTS; attempt++) {
      const i =
        modelId === undefined
          ? chooseReplica(this.replicas, this.maxOngoing, this.random)
          : chooseReplicaForModel(this.replicas, modelId, this.maxOngoing, this.random);
      if (i < 0) return undefined;
      const replica = this.replicas[i]!;
      if (replica.tryAcquire(this.maxOngoing)) {
        // Until the replica reports its models, assume it will hold this one: the next calls for
        // the same model follow it instead of loading the model on every replica.
        if (modelId !== undefined) replica.expectModel(modelId);
        return replica;
      }
    }
    return undefined;
  }

  private track(p: Promise<unknown>): Promise<unknown> {
    const observer = this.observer;
    const t0 = observer ? performance.now() : 0;
    return p.then(
      (v) => {
        observer?.finished((performance.now() - t0) / 1000, true);
        return v;
      },
      (err: unknown) => {
        this.stats.errors++;
        observer?.finished((performance.now() - t0) / 1000, false);
        throw err;
      },
    );
  }

  /** Takes no more calls; queued calls fail with `reason`. */
  close(reason: Error): void {
    this.closed = true;
    const queued = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    this.table.queued = 0;
    for (const q of queued) q.reject(reason);
    this.notifyIdle();
  }

  /** Resolves when nothing is queued or running (used to drain before stopping replicas). */
  idle(): Promise<void> {
    if (this.queued === 0 && this.inFlight === 0) return Promise.resolve();
    // Calls over direct links end in the replicas without a word to this thread: while
    // someone waits, look at the shared counts now and then as well.
    this.idlePoll ??= setInterval(() => this.notifyIdle(), IDLE_POLL_MS);
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || this.queued > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    clearInterval(this.idlePoll);
    this.idlePoll = undefined;
    for (const w of waiters) w();
  }
}
