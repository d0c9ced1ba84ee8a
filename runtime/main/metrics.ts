/**
 * Prometheus metrics for `/metrics`. Queueing time and processing time are separate
 * histograms (as Triton splits them), so a slow answer can be told apart from a full queue.
 * Each serve instance has its own registry, so several instances in one process (tests) do
 * not collide. Gauges are read from the routers when scraped, not updated per call.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplicaEvent } from '../shared/protocol.ts';
import { DeploymentCounter, DeploymentHistogram } from './call-metrics.ts';
import { HttpMetrics } from './http-metrics.ts';
import { GrpcMetrics } from './grpc/observe.ts';

const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface GaugeSource {
  deployments(): Array<{
    name: string;
    queued: number;
    /** The replica count the deployment is scaling to. */
    target: number;
    /** Replicas wanted that no GPU has room for. */
    waitingForGpu: number;
    replicas: Array<{ id: string; inFlight: number; state: string }>;
  }>;
  /** Each running replica's V8 heap, asked of its thread (replicas that do not answer in time are left out). */
  replicaHeaps?(): Promise<Array<{ deployment: string; replica: string; used: number; total: number }>>;
}

/** Why a replica was replaced. */
export type RestartCause = 'died' | 'out_of_memory' | 'health_check' | 'start_failed';

/** What a router reports per call, with the deployment label already bound (cheaper per call). */
export interface CallObserver {
  started(queuedS: number): void;
  finished(processingS: number, ok: boolean): void;
  rejected(): void;
}

export class Metrics {
  readonly registry = new Registry();
  // Observed on every call: see call-metrics.ts for why these are not prom-client's own.
  private readonly requests: DeploymentCounter;
  private readonly errors: DeploymentCounter;
  private readonly backpressure: DeploymentCounter;
  private readonly queueTime: DeploymentHistogram;
  private readonly processingTime: DeploymentHistogram;
  private readonly replicaStarts: Counter<'deployment'>;
  private readonly replicaDeaths: Counter<'deployment'>;
  private readonly batchSize: Histogram<'deployment'>;
  private readonly modelEvents: Counter<'deployment' | 'event'>;
  private readonly modelLoadTime: Histogram<'deployment'>;
  private readonly modelLoadWait: Histogram<'deployment'>;
  private readonly replicaRestarts: Counter<'deployment' | 'cause'>;
  readonly http: HttpMetrics;
  readonly grpc: GrpcMetrics;
  private readonly autoscalingDecisions: Counter<'deployment' | 'reason'>;

  constructor(source: GaugeSource) {
    const registers = [this.registry];
    const reg = this.registry;
    // The process's own: CPU, memory, event loop lag, heap spaces, GC, handles (Node's defaults).
    collectDefaultMetrics({ register: reg });
    this.http = new HttpMetrics(reg);
    this.grpc = new GrpcMetrics(reg);
    this.replicaRestarts = new Counter({
      name: 'threadserve_replica_restarts_total',
      help: 'Replicas replaced, by cause: died (crash, process.exit), out_of_memory (resourceLimits), health_check, start_failed (a replacement that failed to start)',
      labelNames: ['deployment', 'cause'],
      registers,
    });
    new Gauge({
      name: 'threadserve_replica_heap_used_bytes',
      help: "V8 heap in use in each replica's thread",
      labelNames: ['deployment', 'replica'],
      registers,
      async collect() {
        this.reset();
        for (const h of (await source.replicaHeaps?.()) ?? []) this.set({ deployment: h.deployment, replica: h.replica }, h.used);
      },
    });
    this.requests = new DeploymentCounter('threadserve_requests_total', 'Calls finished, per deployment', reg);
    this.errors = new DeploymentCounter('threadserve_request_errors_total', 'Calls that failed, per deployment', reg);
    this.backpressure = new DeploymentCounter('threadserve_backpressure_rejections_total', 'Calls refused because the queue was full (maxQueuedRequests)', reg);
    this.queueTime = new DeploymentHistogram(
      'threadserve_queue_duration_seconds',
      "Time a call waited in the main thread's router queue before a replica took it (0 for calls admitted at once, over direct links too)",
      LATENCY_BUCKETS_S,
      reg,
    );
    this.processingTime = new DeploymentHistogram(
      'threadserve_processing_duration_seconds',
      'Time from handing a call to a replica to its answer (thread hops included)',
      LATENCY_BUCKETS_S,
      reg,
    );
    this.replicaStarts = new Counter({
      name: 'threadserve_replica_starts_total',
      help: 'Replicas started (first starts and replacements)',
      labelNames: ['deployment'],
      registers,
    });
    this.replicaDeaths = new Counter({ name: 'threadserve_replica_deaths_total', help: 'Replicas whose thread died', labelNames: ['deployment'], registers });
    this.batchSize = new Histogram({
      name: 'threadserve_batch_size',
      help: 'Items per batch run by @batch methods (and batching model deployments)',
      labelNames: ['deployment'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.modelEvents = new Counter({
      name: 'threadserve_multiplexed_model_events_total',
      help: 'Multiplexed model cache events: hit, miss, admitted, rejected (served without caching), load, eviction, loadError',
      labelNames: ['deployment', 'event'],
      registers,
    });
    // Loads take from a millisecond (a small ONNX model) to many seconds (weights from far away).
    const loadSeconds = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: ['deployment'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers });
    this.modelLoadTime = loadSeconds('threadserve_model_load_duration_seconds', 'Time to load a multiplexed model into a replica');
    this.modelLoadWait = loadSeconds(
      'threadserve_model_load_wait_seconds',
      "Time a multiplexed model load waited for its turn (the replica's one load at a time, then the deployment's maxConcurrentLoads)",
    );
    this.autoscalingDecisions = new Counter({
      name: 'threadserve_autoscaling_decisions_total',
      help: 'Autoscaling decisions by reason: upscale, downscale, bounds (limits changed), budget (held back by maxReplicaThreads), yield (an idle deployment shrank to make room), downstream (held: a step it calls is saturated)',
      labelNames: ['deployment', 'reason'],
      registers,
    });
    new Gauge({
      name: 'threadserve_queue_length',
      help: 'Calls waiting in the router queue',
      labelNames: ['deployment'],
      registers,
      collect() {
        for (const d of source.deployments()) this.set({ deployment: d.name }, d.queued);
      },
    });
    new Gauge({
      name: 'threadserve_replica_ongoing_requests',
      help: 'Calls running in each replica',
      labelNames: ['deployment', 'replica'],
      registers,
      collect() {
        this.reset();
        for (const d of source.deployments()) for (const r of d.replicas) this.set({ deployment: d.name, replica: r.id }, r.inFlight);
      },
    });
    new Gauge({
      name: 'threadserve_replicas_running',
      help: 'Replicas running per deployment',
      labelNames: ['deployment'],
      registers,
      collect() {
        for (const d of source.deployments()) this.set({ deployment: d.name }, d.replicas.filter((r) => r.state === 'running').length);
      },
    });
    new Gauge({
      name: 'threadserve_replicas_desired',
      help: "Replicas each deployment is scaling to (its numReplicas, or the autoscaler's decision)",
      labelNames: ['deployment'],
      registers,
      collect() {
        for (const d of source.deployments()) this.set({ deployment: d.name }, d.target);
      },
    });
    new Gauge({
      name: 'threadserve_replicas_waiting_for_gpu',
      help: 'Replicas a deployment wants that no GPU has room for (it serves with fewer)',
      labelNames: ['deployment'],
      registers,
      collect() {
        for (const d of source.deployments()) this.set({ deployment: d.name }, d.waitingForGpu);
      },
    });
  }

  forDeployment(deployment: string): CallObserver {
    const queueTime = this.queueTime.cell(deployment);
    const processingTime = this.processingTime.cell(deployment);
    const requests = this.requests.cell(deployment);
    const errors = this.errors.cell(deployment);
    const backpressure = this.backpressure.cell(deployment);
    return {
      started: (queuedS) => queueTime.observe(queuedS),
      finished: (processingS, ok) => {
        requests.n++;
        if (!ok) errors.n++;
        processingTime.observe(processingS);
      },
      rejected: () => {
        backpressure.n++;
      },
    };
  }

  replicaEvent(deployment: string, e: ReplicaEvent): void {
    if (e.kind === 'batch') {
      this.batchSize.observe({ deployment }, e.size);
      return;
    }
    this.modelEvents.inc({ deployment, event: e.event });
    if (e.event === 'load' && e.seconds !== undefined) this.modelLoadTime.observe({ deployment }, e.seconds);
    if (e.event === 'load' && e.waitSeconds !== undefined) this.modelLoadWait.observe({ deployment }, e.waitSeconds);
  }

  autoscalingDecision(deployment: string, reason: string): void {
    this.autoscalingDecisions.inc({ deployment, reason });
  }

  replicaStarted(deployment: string): void {
    this.replicaStarts.inc({ deployment });
  }

  replicaRestarted(deployment: string, cause: RestartCause): void {
    this.replicaRestarts.inc({ deployment, cause });
  }

  replicaDied(deployment: string): void {
    this.replicaDeaths.inc({ deployment });
  }
}
