/**
 * Runs one deployment: its replicas and its router. Keeps as many replicas live as its target
 * asks (the target changes at run time: `scaleTo`), replaces the ones that die or fail health
 * checks, drains the surplus and, at shutdown, all of them; tells the replica links of each
 * change, and gives each replica a slot in the deployment's shared in-flight table and its
 * GPU share from the process's pool.
 */
import type { Logger } from 'pino';
import { DeploymentUnavailableError } from '../shared/errors.ts';
import { codedError } from '../shared/error-codes.ts';
import type { CallOptions } from '../shared/handle.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import type { DirectCalls, TargetRef } from '../shared/protocol.ts';
import type { SpanRecord } from '../shared/trace-context.ts';
import { SlotAllocator, SlotTable } from '../shared/slot-table.ts';
import type { GpuPool } from './gpu-pool.ts';
import { Replica } from './replica.ts';
import type { ReplicaSpec } from './replica.ts';
import { heldModels, replicaHeaps, replicaStatus } from './runner-status.ts';
import type { AutoscalingDecision, ReplicaHeap, ReplicaStatus } from './runner-status.ts';
import type { Metrics } from './metrics.ts';
import type { ReplicaLinks } from './replica-links.ts';
import { HealthChecks } from './health-checks.ts';
import { Router } from './router.ts';
import { chooseSurplus } from './surplus-choice.ts';
import { rollCode, updateOptions } from './deployment-rollout.ts';
import type { ReplicaCode, RolloutTarget } from './deployment-rollout.ts';

export interface RunnerSpec {
  options: ResolvedDeploymentOptions;
  moduleUrl: string;
  classKey: string;
  args: unknown[];
  /** Device ids of the first replicas (placed by assignGpus, already reserved in `gpus`). */
  gpuSlots: number[][];
  /** The process's GPU room: replicas started later take their share here. */
  gpus: GpuPool;
  /** Replicas in the whole process when a replica starts (it sizes its thread pools by it). */
  readonly replicasInProcess: number;
  workerBootstrap: string;
  workerEntry: string;
  execArgv: string[];
  /** This deployment's shared in-flight table. */
  table: SlotTable;
  /** The deployments this one holds handles to: their tables and limits. */
  targets: Record<string, TargetRef>;
  /** Replicas time their outbound calls as spans (an OpenTelemetry SDK is registered). */
  tracing: boolean;
}

export type HandleCallSink = (deployment: string, method: string, args: unknown[], options: CallOptions) => Promise<unknown>;
/** Where the counts of calls replicas made over direct links go (to the target deployments' routers). */
export type DirectCallSink = (calls: Record<string, DirectCalls>, spans: SpanRecord[] | undefined) => void;

/** Restarts back off from 100 ms up to 10 s when replacements keep dying. */
const RESTART_BACKOFF_MS = [100, 500, 1000, 5000, 10000];

export class DeploymentRunner {
  readonly router: Router;
  private readonly replicas = new Set<Replica>();
  /** Replicas told to go while still starting: they are drained as soon as they are up. */
  private readonly cancelled = new Set<Replica>();
  private readonly tableSlots = new SlotAllocator();
  private nextIndex = 0;
  private restarts = 0;
  private stopping = false;
  private readonly health = new HealthChecks(
    () => this.replicas,
    () => this.spec.options,
    (r, err) => {
      if (this.stopping) return;
      this.log.warn({ deployment: this.name, replica: r.id, err: err.message }, 'health check failed; replacing replica');
      this.metrics.replicaRestarted(this.name, 'health_check');
      void this.retire(r, this.spec.options.gracefulShutdownTimeoutS);
      this.retryLater();
    },
  );
  private retryTimer: NodeJS.Timeout | undefined;
  /** Replicas the deployment should have live (starting or running). */
  private targetCount: number;
  private rolling = false;
  /** Replicas wanted that no GPU has room for (0 when all fit); logged once per shortage. */
  waitingForGpu = 0;
  /** Replica-count changes, oldest first; empty unless an autoscaler records them (recordAutoscalingDecision). */
  readonly autoscalingDecisions: AutoscalingDecision[] = [];

  constructor(
    readonly spec: RunnerSpec,
    private readonly onHandleCall: HandleCallSink,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly links: ReplicaLinks,
    private readonly onDirectCalls: DirectCallSink,
  ) {
    const o = spec.options;
    this.targetCount = o.numReplicas;
    this.router = new Router(o.name, o.maxOngoingRequests, o.maxQueuedRequests, spec.table, metrics.forDeployment(o.name));
  }

  get name(): string {
    return this.spec.options.name;
  }

  get replicaCount(): number {
    return this.replicas.size;
  }

  /** The replica count the deployment is scaling to. */
  get target(): number {
    return this.targetCount;
  }

  get running(): number {
    let running = 0;
    for (const r of this.replicas) if (r.state === 'running') running++;
    return running;
  }

  /** True when as many replicas run as the deployment asks for. */
  get ready(): boolean {
    return this.running >= this.targetCount;
  }

  async start(): Promise<void> {
    const starts = [];
    for (let i = 0; i < this.targetCount; i++) starts.push(this.startReplica(this.spec.gpuSlots[i] ?? []));
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const cause = failed.reason as Error;
      const err = codedError('STARTUP_FAILED', `deployment "${this.name}" failed to start: ${cause?.message ?? String(cause)}`);
      err.stack = `${err.stack}\nCaused by: ${cause?.stack ?? cause}`;
      throw err;
    }
    this.health.start();
  }

  /**
   * Changes the replica count of the running deployment. Up: starts replicas as far as GPU room
   * allows (the rest wait for room: logged once, counted in `waitingForGpu`), and resolves once
   * they run. Down: the surplus (chooseSurplus) stops taking calls at once, so calls queued go
   * to the others; each is unlinked from its callers, finishes the calls it has, and only then
   * is its thread stopped. Resolves once the surplus is gone.
   */
  async scaleTo(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`deployment "${this.name}": replica count must be a non-negative integer, got ${n}`);
    this.targetCount = n;
    await this.reconcile();
  }

  /** Replicas counted toward the target: starting or running, not told to go. */
  private live(): Replica[] {
    return [...this.replicas].filter((r) => (r.state === 'starting' || r.state === 'running') && !this.cancelled.has(r));
  }

  /** Starts or drains replicas until the live count meets the target. */
  async reconcile(): Promise<void> {
    // A roll replaces replicas one by one with one extra live: counting now would stop the new ones.
    if (this.stopping || this.rolling) return;
    const live = this.live();
    const work: Promise<unknown>[] = [];
    let missing = this.targetCount - live.length;
    for (; missing > 0; missing--) {
      const gpuIds = this.spec.gpus.take(this.spec.options.numGpus);
      if (gpuIds === undefined) break;
      work.push(
        this.startReplica(gpuIds).then(
          () => (this.restarts = 0),
          (err: Error) => {
            this.log.error({ deployment: this.name, err: err.message }, 'replica failed to start; retrying');
            this.metrics.replicaRestarted(this.name, 'start_failed');
            this.retryLater();
          },
        ),
      );
    }
    this.noteGpuShortage(missing);
    for (const r of chooseSurplus(live, live.length - this.targetCount)) work.push(this.retire(r, undefined));
    await Promise.all(work);
  }

  private noteGpuShortage(missing: number): void {
    if (missing > 0 && this.waitingForGpu === 0) {
      this.log.warn(
        { deployment: this.name, missing, numGpus: this.spec.options.numGpus, free: this.spec.gpus.freeShares() },
        'no GPU room for more replicas; serving with fewer until room frees',
      );
    }
    this.waitingForGpu = Math.max(0, missing);
  }

  /** Starts missing replicas after the restart backoff (replicas that keep dying or failing to start). */
  private retryLater(): void {
    if (this.stopping || this.retryTimer) return;
    const delay = this.restarts === 0 ? 0 : RESTART_BACKOFF_MS[Math.min(this.restarts - 1, RESTART_BACKOFF_MS.length - 1)]!;
    this.restarts++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconcile();
    }, delay);
    this.retryTimer.unref();
  }

  private async startReplica(gpuIds: number[]): Promise<Replica> {
    const index = this.nextIndex++;
    const o = this.spec.options;
    const { slot: tableSlot, gen } = this.tableSlots.take();
    const spec: ReplicaSpec = {
      deployment: o.name,
      replicaIndex: index,
      replicaId: `${o.name}#${index}`,
      moduleUrl: this.spec.moduleUrl,
      classKey: this.spec.classKey,
      args: this.spec.args,
      userConfig: o.userConfig,
      hasUserConfig: o.userConfig !== undefined,
      gpuIds,
      replicasInProcess: this.spec.replicasInProcess,
      workerBootstrap: this.spec.workerBootstrap,
      workerEntry: this.spec.workerEntry,
      execArgv: this.spec.execArgv,
      slot: { table: this.spec.table.buffer, slot: tableSlot, gen },
      targets: this.spec.targets,
      tracing: this.spec.tracing,
      ...(o.resourceLimits ? { resourceLimits: { ...o.resourceLimits } } : {}),
    };
    const replica = new Replica(spec, {
      onSlotFree: () => this.router.pump(),
      onDirectCalls: this.onDirectCalls,
      onDied: (r, cause) => this.onReplicaDied(r, cause),
      onHandleCall: this.onHandleCall,
      onReplicaEvent: (e) => this.metrics.replicaEvent(o.name, e),
    });
    this.replicas.add(replica);
    try {
      await replica.start();
    } catch (err) {
      this.replicas.delete(replica);
      this.cancelled.delete(replica);
      this.tableSlots.give(tableSlot);
      this.spec.gpus.give(gpuIds, o.numGpus);
      throw err;
    }
    if (this.stopping || this.cancelled.delete(replica)) {
      await this.retire(replica, o.gracefulShutdownTimeoutS);
      return replica;
    }
    this.router.add(replica);
    this.links.up(o.name, replica);
    this.metrics.replicaStarted(o.name);
    this.log.debug({ deployment: o.name, replica: spec.replicaId }, 'replica started');
    return replica;
  }

  /**
   * Stops a replica from taking calls (router and links first), lets it finish its calls, then
   * frees its place. `timeoutS`: stop the thread anyway after that long (shutdown, a failed
   * health check); undefined: wait as long as its calls run (scale-down), with a warning when
   * that passes gracefulShutdownTimeoutS.
   */
  private async retire(replica: Replica, timeoutS: number | undefined): Promise<void> {
    if (replica.state === 'starting') {
      this.cancelled.add(replica);
      return;
    }
    this.router.remove(replica);
    this.links.down(this.name, replica);
    const slowDrain =
      timeoutS === undefined
        ? setTimeout(() => {
            this.log.warn(
              { deployment: this.name, replica: replica.id, inFlight: replica.inFlight },
              'scale-down waits for calls still running on the replica',
            );
          }, this.spec.options.gracefulShutdownTimeoutS * 1000)
        : undefined;
    slowDrain?.unref();
    await replica.drain(timeoutS);
    clearTimeout(slowDrain);
    this.links.gone(this.name, replica);
    this.release(replica);
  }

  /** The replica's thread is gone: its table slot and GPU share are free. */
  private release(replica: Replica): void {
    if (!this.replicas.delete(replica)) return;
    this.spec.table.dropLoadTurns(replica.spec.slot.slot);
    this.tableSlots.give(replica.spec.slot.slot);
    this.spec.gpus.give(replica.spec.gpuIds, this.spec.options.numGpus);
  }

  private onReplicaDied(replica: Replica, cause: Error): void {
    this.metrics.replicaDied(this.name);
    this.router.remove(replica);
    this.links.gone(this.name, replica);
    this.release(replica);
    if (this.stopping) return;
    this.log.warn({ deployment: this.name, replica: replica.id, err: cause.message }, 'replica died; starting a replacement');
    this.metrics.replicaRestarted(this.name, (cause as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out_of_memory' : 'died');
    this.retryLater();
  }

  /** Applies a redeploy's live option changes (deployment-rollout.ts). */
  update(options: ResolvedDeploymentOptions): Promise<void> {
    return updateOptions(this.rolloutTarget(), options);
  }

  /** Replaces every replica with one running new code, one at a time (deployment-rollout.ts). */
  roll(code: ReplicaCode, options: ResolvedDeploymentOptions): Promise<void> {
    return rollCode(this.rolloutTarget(), code, options);
  }

  /** What an update or a roll may do to this runner, without making its bookkeeping public. */
  private rolloutTarget(): RolloutTarget {
    return {
      spec: this.spec,
      stopping: () => this.stopping,
      setRolling: (rolling) => (this.rolling = rolling),
      live: () => this.live(),
      startReplica: (gpuIds) => this.startReplica(gpuIds),
      retire: (replica) => this.retire(replica, undefined),
      reconcile: () => this.reconcile(),
      reconfigure: (userConfig) => this.reconfigure(userConfig),
      scaleTo: (n) => this.scaleTo(n),
      restartHealthChecks: () => {
        if (this.health.running) this.health.start();
      },
    };
  }

  /** The V8 heap of each running replica that answers within `timeoutS`. */
  heaps(timeoutS: number): Promise<ReplicaHeap[]> {
    return replicaHeaps(this.name, this.replicas, timeoutS);
  }

  /** Sends userConfig to every running replica's reconfigure(). */
  async reconfigure(userConfig: unknown): Promise<void> {
    this.spec.options = Object.freeze({ ...this.spec.options, userConfig });
    await Promise.all([...this.replicas].filter((r) => r.state === 'running').map((r) => r.reconfigure(userConfig, this.spec.options.healthCheckTimeoutS)));
  }

  /** Waits until no call is queued or running, up to `timeoutS`; true when it got there. */
  async quiesce(timeoutS: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutS * 1000)));
    const ok = await Promise.race([this.router.idle().then(() => true), timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** Stops taking calls, drains every replica, and stops its thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.health.stop();
    clearTimeout(this.retryTimer);
    this.router.close(new DeploymentUnavailableError(`deployment "${this.name}" is shutting down`));
    const timeoutS = this.spec.options.gracefulShutdownTimeoutS;
    await Promise.all([...this.replicas].map((r) => this.retire(r, timeoutS)));
  }

  /** Keeps a replica-count change for /-/status and the dashboard (the last 50). */
  recordAutoscalingDecision(decision: AutoscalingDecision): void {
    this.autoscalingDecisions.push(decision);
    if (this.autoscalingDecisions.length > 50) this.autoscalingDecisions.shift();
  }

  /** Multiplexed model ids any replica holds (or is about to). */
  loadedModels(): string[] {
    return heldModels(this.replicas);
  }

  status(): ReplicaStatus[] {
    return replicaStatus(this.replicas);
  }
}
