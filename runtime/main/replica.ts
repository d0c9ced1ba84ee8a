/**
 * The main thread's side of one replica: a piscina pool of exactly one thread, running one
 * long task (the replica's whole life), and a MessageChannel of its own for calls.
 *
 * Why not one piscina task per call: a replica is an actor with state and concurrent calls,
 * addressed by the router, and it calls other deployments while it works. Piscina's task
 * protocol measured about 21.5k no-op tasks/s here; a dedicated port with per-microtask
 * batching is several times that. Piscina still owns the thread: creation, execArgv,
 * resourceLimits, and the task failure that tells us the thread died.
 */
import { memoryBudgetBuffer } from '../shared/memory-budget.ts';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { BadCallError, DeploymentUnavailableError, ReplicaDiedError, serializeError } from '../shared/errors.ts';
import { PendingCalls } from '../shared/pending-calls.ts';
import { ResponseStream } from '../shared/response-stream.ts';
import type { CallOptions } from '../shared/handle.ts';
import { PortWriter } from '../shared/port-writer.ts';
import { withTimeout } from '../shared/timeout.ts';
import type { CallMessage, DirectCalls, FromReplica, ReplicaEvent, StartMessage, ToReplica } from '../shared/protocol.ts';
import { SlotTable } from '../shared/slot-table.ts';
import { wireTrace } from '../shared/trace-context.ts';
import type { SpanRecord } from '../shared/trace-context.ts';

export type ReplicaState = 'starting' | 'running' | 'draining' | 'stopped' | 'dead';

/** What the replica's thread is told at start (all but its port), plus how to start the thread. */
export interface ReplicaSpec extends Omit<StartMessage, 'port'> {
  workerBootstrap: string;
  workerEntry: string;
  execArgv: string[];
  resourceLimits?: Record<string, number | undefined>;
}

export interface ReplicaEvents {
  /** A call finished, or a slot freed while calls were queued: the router may send another. */
  onSlotFree(replica: Replica): void;
  /** The replica made handle calls over direct links (the main thread saw none of them). */
  onDirectCalls(calls: Record<string, DirectCalls>, spans: SpanRecord[] | undefined): void;
  /** The thread died after it started. */
  onDied(replica: Replica, cause: Error): void;
  /** The replica counted something for /metrics. */
  onReplicaEvent(e: ReplicaEvent): void;
  /** The user's instance called another deployment through a handle. */
  onHandleCall(deployment: string, method: string, args: unknown[], options: CallOptions): Promise<unknown>;
}

export class Replica {
  state: ReplicaState = 'starting';
  methods: readonly string[] = [];
  /** Multiplexed model ids the replica reported holding (for the router's preference). */
  models: Set<string> = new Set();
  readonly startedAt = Date.now();
  private pool: Piscina | undefined;
  private port: MessagePort | undefined;
  private writer: PortWriter<ToReplica> | undefined;
  /** Tagged true for user calls (counted on the slot), false for health checks and reconfigures. */
  private readonly pending = new PendingCalls<boolean>();
  private lifetime: Promise<unknown> | undefined;
  private readonly table: SlotTable;
  /** Why the replica stopped with calls in flight (died, or cut at the drain timeout); undefined if it did not. */
  failure: string | undefined;

  constructor(
    readonly spec: ReplicaSpec,
    private readonly events: ReplicaEvents,
  ) {
    this.table = new SlotTable(spec.slot.table);
    this.table.open(spec.slot.slot, spec.slot.gen);
  }

  /** Calls in flight on this replica, from every caller (the main thread and other replicas). */
  get inFlight(): number {
    return this.table.count(this.spec.slot.slot);
  }

  /** Model loads or unloads the replica is running now (it counts them itself, in shared memory). */
  get loading(): number {
    return this.table.loading(this.spec.slot.slot);
  }

  /** Admits one call (it must then be sent with call()); false when the replica is full or closed. */
  tryAcquire(maxOngoing: number): boolean {
    return this.state === 'running' && this.table.tryAcquire(this.spec.slot.slot, this.spec.slot.gen, maxOngoing);
  }

  /** Sends control traffic (direct-link set-up) to the replica; a port in the message moves with it. */
  post(msg: ToReplica, port?: MessagePort): void {
    this.writer?.send(msg, undefined, port);
  }

  expectModel(id: string): void {
    this.models.add(id);
  }

  get id(): string {
    return this.spec.replicaId;
  }

  /** Resolves once the instance is constructed and initialised; rejects with its error. */
  start(): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.writer = new PortWriter<ToReplica>(port1, (m, err) => this.onCloneError(m, err));
    const pool = new Piscina({
      filename: this.spec.workerBootstrap,
      // The process's memory budget counters are shared with every replica thread.
      workerData: { threadserveEntry: this.spec.workerEntry, threadserveMemoryBudget: memoryBudgetBuffer() },
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      execArgv: this.spec.execArgv,
      ...(this.spec.resourceLimits ? { resourceLimits: this.spec.resourceLimits } : {}),
    });
    this.pool = pool;
    // Errors with no task attached (a replacement thread failing to boot) must not crash the process.
    pool.on('error', () => undefined);
    const { workerBootstrap: _b, workerEntry: _e, execArgv: _x, resourceLimits: _r, ...startFields } = this.spec;
    const start: StartMessage = { ...startFields, port: port2 };
    return new Promise<void>((resolve, reject) => {
      port1.on('message', (batch: FromReplica[]) => {
        for (const msg of batch) {
          if (!Array.isArray(msg) && msg.k === 'ready') {
            this.methods = msg.methods;
            this.state = 'running';
            resolve();
          } else this.onMessage(msg);
        }
      });
      this.lifetime = pool.run(start, { transferList: [port2] }).then(
        () => this.onLifetimeEnd(undefined),
        (err: Error) => {
          if (this.state === 'starting') {
            this.state = 'dead';
            void this.destroyPool();
            reject(err);
          } else this.onLifetimeEnd(err);
        },
      );
    });
  }

  /** Sends a call admitted with tryAcquire(). */
  call(method: string, args: unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.state !== 'running') {
      this.table.release(this.spec.slot.slot, this.spec.slot.gen);
      return Promise.reject(new DeploymentUnavailableError(`replica ${this.id} is ${this.state}`));
    }
    const id = this.pending.id();
    const modelId = options.multiplexedModelId;
    const t = options.trace;
    const msg: CallMessage =
      t !== undefined ? [id, method, args, modelId, wireTrace(t)] : modelId === undefined ? [id, method, args] : [id, method, args, modelId];
    const problem = this.writer!.send(msg, args);
    if (problem !== undefined) {
      this.table.release(this.spec.slot.slot, this.spec.slot.gen);
      return Promise.reject(new BadCallError(`arguments to ${this.spec.deployment}.${method}(): args${problem}`));
    }
    const p = this.pending.wait(id, true);
    const { timeoutS } = options;
    return timeoutS === undefined ? p : withTimeout(p, timeoutS, `${this.spec.deployment}.${method}()`);
  }

  /** Runs the instance's checkHealth() (if any), failing after `timeoutS`. */
  checkHealth(timeoutS: number): Promise<void> {
    return this.control({ k: 'health', id: this.pending.id() }, timeoutS, 'health check').then(() => undefined);
  }

  /** The thread's V8 heap in use and reserved, in bytes; fails after `timeoutS` (a thread busy in synchronous code). */
  heap(timeoutS: number): Promise<{ used: number; total: number }> {
    return this.control({ k: 'heap', id: this.pending.id() }, timeoutS, 'heap statistics') as Promise<{ used: number; total: number }>;
  }

  reconfigure(cfg: unknown, timeoutS: number): Promise<void> {
    return this.control({ k: 'reconf', id: this.pending.id(), cfg }, timeoutS, 'reconfigure').then(() => undefined);
  }

  private control(msg: ToReplica & { id: number }, timeoutS: number, what: string): Promise<unknown> {
    if (this.state !== 'running') return Promise.reject(new DeploymentUnavailableError(`replica ${this.id} is ${this.state}`));
    const problem = this.writer!.send(msg, msg);
    if (problem !== undefined) return Promise.reject(new BadCallError(`${what} of replica ${this.id}: message${problem}`));
    return withTimeout(this.pending.wait(msg.id, false), timeoutS, `${what} of replica ${this.id}`);
  }

  /**
   * Stops taking calls, waits for the running ones (the thread finishes them and returns from
   * its task), then stops the thread. After `timeoutS` the thread is stopped anyway; with no
   * timeout it is stopped only once its calls are done (scale-down: onnxruntime aborts the whole
   * process when a thread is stopped inside session.run).
   */
  async drain(timeoutS: number | undefined): Promise<void> {
    if (this.state === 'stopped' || this.state === 'dead') return;
    this.state = 'draining';
    this.table.close(this.spec.slot.slot);
    this.writer!.send({ k: 'drain' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      if (timeoutS !== undefined) timer = setTimeout(() => r('timeout'), timeoutS * 1000);
    });
    const outcome = await Promise.race([this.lifetime!.then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    this.takeWaitingAnswers();
    if (outcome === 'timeout') {
      this.failure = `deployment "${this.spec.deployment}": replica ${this.id} was stopped after the ${timeoutS}s graceful shutdown timeout`;
    } else if (this.pending.size > 0) {
      this.failure = `deployment "${this.spec.deployment}": replica ${this.id} died while draining`;
    }
    if (this.failure !== undefined) this.pending.rejectAll(new ReplicaDiedError(this.failure));
    this.state = 'stopped';
    await this.destroyPool();
  }

  private onMessage(msg: FromReplica): void {
    if (Array.isArray(msg)) {
      // An answer (protocol.ts); only user calls free a slot.
      if (this.pending.settleWith(msg[0], msg[1] === 1, msg[2])?.tag) this.events.onSlotFree(this);
    } else if (msg.k === 'free') {
      this.events.onSlotFree(this);
    } else if (msg.k === 'served') {
      this.events.onDirectCalls(msg.calls, msg.spans);
    } else if (msg.k === 'models') {
      this.models = new Set(msg.ids);
    } else if (msg.k === 'ev') {
      this.events.onReplicaEvent(msg.e);
    } else if (msg.k === 'hcall') {
      const { id } = msg;
      const options: CallOptions = {};
      if (msg.t !== undefined) options.timeoutS = msg.t;
      if (msg.mm !== undefined) options.multiplexedModelId = msg.mm;
      if (msg.tr !== undefined) options.trace = msg.tr;
      const fail = (e: unknown) => this.writer?.send({ k: 'hres', id, ok: false, e: serializeError(e) });
      this.events.onHandleCall(msg.d, msg.m, msg.a, options).then((result) => {
        // A stream passes on to the calling replica whole: its chunks never touch this thread.
        const v = result instanceof ResponseStream && result.movable ? result.move() : result;
        const problem = this.writer?.send({ k: 'hres', id, ok: true, v }, v);
        if (problem !== undefined) fail(new BadCallError(`the result of ${msg.d}.${msg.m}(): result${problem}`));
      }, fail);
    }
  }

  private onCloneError(m: ToReplica, err: Error): void {
    if (!Array.isArray(m)) return;
    const failed = new BadCallError(`arguments to ${this.spec.deployment}.${m[1]}() cannot be sent between threads: ${err.message}`);
    if (!this.pending.reject(m[0], failed)) return;
    this.table.release(this.spec.slot.slot, this.spec.slot.gen);
    this.events.onSlotFree(this);
  }

  private onLifetimeEnd(err: Error | undefined): void {
    if (this.state === 'draining' || this.state === 'stopped') return;
    this.state = 'dead';
    this.table.close(this.spec.slot.slot);
    this.takeWaitingAnswers();
    const cause = err ?? new Error('the replica task returned');
    this.failure = `deployment "${this.spec.deployment}": replica ${this.id} died (${cause.message})`;
    this.pending.rejectAll(new ReplicaDiedError(this.failure));
    void this.destroyPool();
    this.events.onDied(this, cause);
  }

  /** Answers the thread sent before it stopped may still wait in the port behind the news: take them. */
  private takeWaitingAnswers(): void {
    const port = this.port;
    if (!port) return;
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      for (const msg of m.message as FromReplica[]) if (Array.isArray(msg)) this.onMessage(msg);
    }
  }

  private async destroyPool(): Promise<void> {
    this.writer?.close();
    this.port?.close();
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.destroy().catch(() => undefined);
  }
}
