/**
 * Runs one deployment: its replicas and its router. Starts replicas, replaces the ones that
 * die or fail health checks, and drains them at shutdown; tells the replica links of each
 * change, and gives each replica a slot in the deployment's shared in-flight table.
 */
import type { Logger } from 'pino';
import { DeploymentUnavailableError } from '../shared/errors.ts';
import { codedError } from '../shared/error-codes.ts';
import type { CallOptions } from '../shared/handle.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import type { DirectCalls, TargetRef } from '../shared/protocol.ts';
import type { SpanRecord } from '../shared/trace-context.ts';
import { SlotAllocator, SlotTable } from '../shared/slot-table.ts';
import { Replica } from './replica.ts';
import type { ReplicaSpec } from './replica.ts';
import type { Metrics, RestartCause } from './metrics.ts';
import type { ReplicaLinks } from './replica-links.ts';
import { Router } from './router.ts';

export interface RunnerSpec {
  options: ResolvedDeploymentOptions;
  moduleUrl: string;
  classKey: string;
  args: unknown[];
  /** Device ids per replica slot (from assignGpus); a replacement takes its predecessor's slot. */
  gpuSlots: number[][];
  replicasInProcess: number;
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

export interface ReplicaStatus {
  id: string;
  state: string;
  inFlight: number;
  gpuIds: number[];
  /** Multiplexed model ids the replica holds (empty for other deployments). */
  models: string[];
  /** When the replica's thread was started (ms since the epoch). */
  startedAt: number;
}

/** One replica-count change an autoscaler made, for /-/status and the dashboard. */
export interface AutoscalingDecision {
  /** Milliseconds since the epoch. */
  at: number;
  from: number;
  to: number;
  reason: string;
}

export class DeploymentRunner {
  readonly router: Router;
  private readonly replicas = new Set<Replica>();
  private readonly slotOf = new Map<Replica, number>();
  private readonly tableSlots = new SlotAllocator();
  private nextIndex = 0;
  private restarts = 0;
  private stopping = false;
  private healthTimer: NodeJS.Timeout | undefined;
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
    this.router = new Router(o.name, o.maxOngoingRequests, o.maxQueuedRequests, spec.table, metrics.forDeployment(o.name));
  }

  get name(): string {
    return this.spec.options.name;
  }

  get replicaCount(): number {
    return this.replicas.size;
  }

  /** True when as many replicas run as the deployment asks for. */
  get ready(): boolean {
    let running = 0;
    for (const r of this.replicas) if (r.state === 'running') running++;
    return running >= this.spec.options.numReplicas;
  }

  async start(): Promise<void> {
    const starts = [];
    for (let i = 0; i < this.spec.options.numReplicas; i++) starts.push(this.startReplica(i));
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const cause = failed.reason as Error;
      const err = codedError('STARTUP_FAILED', `deployment "${this.name}" failed to start: ${cause?.message ?? String(cause)}`);
      err.stack = `${err.stack}\nCaused by: ${cause?.stack ?? cause}`;
      throw err;
    }
    this.scheduleHealthChecks();
  }

  private async startReplica(slot: number): Promise<Replica> {
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
      gpuIds: this.spec.gpuSlots[slot] ?? [],
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
    this.slotOf.set(replica, slot);
    try {
      await replica.start();
    } catch (err) {
      this.replicas.delete(replica);
      this.slotOf.delete(replica);
      this.tableSlots.give(tableSlot);
      throw err;
    }
    if (this.stopping) {
      await this.retire(replica);
      return replica;
    }
    this.router.add(replica);
    this.links.up(o.name, replica);
    this.metrics.replicaStarted(o.name);
    this.log.debug({ deployment: o.name, replica: spec.replicaId }, 'replica started');
    return replica;
  }

  /** Drains a replica that no longer takes calls, then frees its place. */
  private async retire(replica: Replica): Promise<void> {
    this.router.remove(replica);
    this.links.down(this.name, replica);
    await replica.drain(this.spec.options.gracefulShutdownTimeoutS);
    this.links.gone(this.name, replica);
    this.replicas.delete(replica);
    this.tableSlots.give(replica.spec.slot.slot);
  }

  private onReplicaDied(replica: Replica, cause: Error): void {
    this.metrics.replicaDied(this.name);
    this.replicas.delete(replica);
    this.router.remove(replica);
    this.links.gone(this.name, replica);
    this.tableSlots.give(replica.spec.slot.slot);
    const slot = this.slotOf.get(replica) ?? 0;
    this.slotOf.delete(replica);
    if (this.stopping) return;
    this.log.warn({ deployment: this.name, replica: replica.id, err: cause.message }, 'replica died; starting a replacement');
    this.replace(slot, (cause as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out_of_memory' : 'died');
  }

  private replace(slot: number, cause: RestartCause): void {
    this.metrics.replicaRestarted(this.name, cause);
    const delay = RESTART_BACKOFF_MS[Math.min(this.restarts, RESTART_BACKOFF_MS.length - 1)]!;
    this.restarts++;
    const timer = setTimeout(() => {
      if (this.stopping) return;
      this.startReplica(slot).then(
        () => {
          this.restarts = 0;
        },
        (err: Error) => {
          this.log.error({ deployment: this.name, err: err.message }, 'replacement replica failed to start');
          this.replace(slot, 'start_failed');
        },
      );
    }, this.restarts === 1 ? 0 : delay);
    timer.unref();
  }

  private scheduleHealthChecks(): void {
    const { healthCheckPeriodS, healthCheckTimeoutS } = this.spec.options;
    this.healthTimer = setInterval(() => {
      for (const r of this.replicas) {
        if (r.state !== 'running') continue;
        r.checkHealth(healthCheckTimeoutS).catch((err: Error) => {
          if (r.state !== 'running' || this.stopping) return;
          this.log.warn({ deployment: this.name, replica: r.id, err: err.message }, 'health check failed; replacing replica');
          const slot = this.slotOf.get(r) ?? 0;
          this.slotOf.delete(r);
          void this.retire(r);
          this.replace(slot, 'health_check');
        });
      }
    }, healthCheckPeriodS * 1000);
    this.healthTimer.unref();
  }

  /** The V8 heap of each running replica that answers within `timeoutS`. */
  async heaps(timeoutS: number): Promise<Array<{ deployment: string; replica: string; used: number; total: number }>> {
    const running = [...this.replicas].filter((r) => r.state === 'running');
    const answers = await Promise.all(running.map((r) => r.heap(timeoutS).then((h) => ({ deployment: this.name, replica: r.id, ...h }), () => undefined)));
    return answers.filter((a) => a !== undefined);
  }

  /** Sends userConfig to every running replica's reconfigure(). */
  async reconfigure(userConfig: unknown): Promise<void> {
    this.spec.options = Object.freeze({ ...this.spec.options, userConfig });
    await Promise.all(
      [...this.replicas].filter((r) => r.state === 'running').map((r) => r.reconfigure(userConfig, this.spec.options.healthCheckTimeoutS)),
    );
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
    clearInterval(this.healthTimer);
    this.router.close(new DeploymentUnavailableError(`deployment "${this.name}" is shutting down`));
    await Promise.all([...this.replicas].map((r) => this.retire(r)));
  }

  /** Keeps a replica-count change for /-/status and the dashboard (the last 50). */
  recordAutoscalingDecision(decision: AutoscalingDecision): void {
    this.autoscalingDecisions.push(decision);
    if (this.autoscalingDecisions.length > 50) this.autoscalingDecisions.shift();
  }

  /** Multiplexed model ids any replica holds (or is about to). */
  loadedModels(): string[] {
    const ids = new Set<string>();
    for (const r of this.replicas) for (const id of r.models) ids.add(id);
    return [...ids];
  }

  status(): ReplicaStatus[] {
    return [...this.replicas].map((r) => ({
      id: r.id,
      state: r.state,
      inFlight: r.inFlight,
      gpuIds: r.spec.gpuIds,
      models: [...r.models].sort(),
      startedAt: r.startedAt,
    }));
  }
}
