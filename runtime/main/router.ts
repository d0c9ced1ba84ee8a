/**
 * One router per deployment, on the main thread. Every call to the deployment, from the
 * ingress or from any replica, passes here: it goes to a replica with room (power of two
 * choices), waits in a FIFO queue when all are at maxOngoingRequests, and fails at once with
 * a backpressure error when the queue holds maxQueuedRequests calls already.
 */
import { BackpressureError, DeploymentUnavailableError } from '../shared/errors.ts';
import { chooseReplica, chooseReplicaForModel } from './replica-choice.ts';
import type { Random } from './replica-choice.ts';
import type { CallObserver } from './metrics.ts';
import type { Replica } from './replica.ts';
import type { CallOptions } from '../shared/handle.ts';

interface Queued {
  method: string;
  args: unknown[];
  options: CallOptions;
  enqueuedAt: number;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export interface RouterStats {
  requests: number;
  errors: number;
  rejected: number;
}

export class Router {
  private replicas: Replica[] = [];
  private queue: Queued[] = [];
  private queueHead = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  readonly stats: RouterStats = { requests: 0, errors: 0, rejected: 0 };

  constructor(
    readonly deployment: string,
    private readonly maxOngoing: number,
    private readonly maxQueued: number,
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
  add(replica: Replica): void {
    this.replicas.push(replica);
    this.pump();
  }

  remove(replica: Replica): void {
    this.replicas = this.replicas.filter((r) => r !== replica);
    this.notifyIdle();
  }

  call(method: string, args: unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new DeploymentUnavailableError(`deployment "${this.deployment}" is shutting down`));
    }
    this.stats.requests++;
    if (this.queued === 0) {
      const i = this.choose(options.multiplexedModelId);
      if (i >= 0) {
        this.observer?.started(0);
        return this.track(this.replicas[i]!.call(method, args, options));
      }
    }
    if (this.maxQueued >= 0 && this.queued >= this.maxQueued) {
      this.stats.rejected++;
      this.observer?.rejected();
      return Promise.reject(
        new BackpressureError(
          `deployment "${this.deployment}" is overloaded: ${this.queued} calls queued (maxQueuedRequests ${this.maxQueued})`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ method, args, options, enqueuedAt: performance.now(), resolve, reject });
    });
  }

  /** A replica has room again: hand queued calls out while any replica has room. */
  pump(): void {
    while (this.queued > 0) {
      const q = this.queue[this.queueHead]!;
      const i = this.choose(q.options.multiplexedModelId);
      if (i < 0) break;
      this.queue[this.queueHead++] = undefined as never;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.observer?.started((performance.now() - q.enqueuedAt) / 1000);
      this.track(this.replicas[i]!.call(q.method, q.args, q.options)).then(q.resolve, q.reject);
    }
    this.notifyIdle();
  }

  private choose(modelId: string | undefined): number {
    if (modelId === undefined) return chooseReplica(this.replicas, this.maxOngoing, this.random);
    const i = chooseReplicaForModel(this.replicas, modelId, this.maxOngoing, this.random);
    // Until the replica reports its models, assume it will hold this one: the next calls for
    // the same model follow it instead of loading the model on every replica.
    if (i >= 0) this.replicas[i]!.expectModel(modelId);
    return i;
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
    for (const q of queued) q.reject(reason);
    this.notifyIdle();
  }

  /** Resolves when nothing is queued or running (used to drain before stopping replicas). */
  idle(): Promise<void> {
    if (this.queued === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || this.queued > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
