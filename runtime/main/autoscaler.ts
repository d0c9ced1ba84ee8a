/**
 * The controller loop for autoscaling: samples each deployment's ongoing calls (running and
 * queued) every SAMPLE_MS, refreshes the load the policy sees every metricsIntervalS (the mean
 * over lookBackPeriodS, as Ray Serve's replicas report it), asks the pure policy
 * (autoscaling-policy.ts) for counts, and applies changes through the runners' live scaling
 * (scale-down drains). Keeps the recent decisions for status and counts them for /metrics.
 */
import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.ts';
import { decide } from './autoscaling-policy.ts';
import type { Decision, DeploymentLoad, ScalingMemory } from './autoscaling-policy.ts';
import type { DeploymentRunner } from './deployment-runner.ts';
import type { Metrics } from './metrics.ts';

/** A decision with the wall-clock time it was made (for status). */
export type RecordedDecision = Decision & { readonly time: string };

/** How often ongoing calls are sampled (Ray Serve's replicas record theirs every 0.5 s). */
const SAMPLE_MS = 500;
const RECENT_DECISIONS = 50;
/** The window a fixed deployment's load is averaged over (it has no lookBackPeriodS of its own). */
const FIXED_LOOK_BACK_S = 2;

/** Timestamped samples; the mean of those inside a window. */
class LoadWindow {
  private samples: Array<{ at: number; value: number }> = [];

  add(at: number, value: number): void {
    this.samples.push({ at, value });
  }

  /** Mean of the samples taken in (now - windowMs, now]; undefined when there are none. Drops older ones. */
  mean(now: number, windowMs: number): number | undefined {
    const from = now - windowMs;
    let first = 0;
    while (first < this.samples.length && this.samples[first]!.at <= from) first++;
    if (first > 0) this.samples = this.samples.slice(first);
    if (this.samples.length === 0) return undefined;
    let sum = 0;
    for (const s of this.samples) sum += s.value;
    return sum / this.samples.length;
  }
}

export class Autoscaler {
  private memory: ScalingMemory = {};
  private readonly windows = new Map<string, LoadWindow>();
  /** The load each deployment last reported, and when. */
  private readonly reported = new Map<string, { ongoing: number | undefined; at: number }>();
  private readonly decisions: RecordedDecision[] = [];
  private timer: unknown;
  private stopped = false;

  constructor(
    private readonly runners: () => DeploymentRunner[],
    /** The most replica threads the process runs at once (fixed deployments included). */
    public budget: number,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /** The last decisions, oldest first. */
  recent(): readonly RecordedDecision[] {
    return this.decisions;
  }

  private schedule(): void {
    if (this.stopped) return;
    const intervals = this.runners().flatMap((r) => (r.spec.options.autoscalingConfig ? [r.spec.options.autoscalingConfig.metricsIntervalS * 1000] : []));
    // No autoscaled deployment now: look again later (a redeploy may turn autoscaling on).
    const period = Math.min(SAMPLE_MS, ...intervals);
    this.timer = this.clock.setTimeout(() => {
      this.tick();
      this.schedule();
    }, period);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** One turn of the loop: sample, refresh reports that are due, decide, apply. */
  tick(): void {
    const now = this.clock.now();
    const runners = this.runners();
    const loads: DeploymentLoad[] = runners.map((r) => {
      const config = r.spec.options.autoscalingConfig;
      const shape = { calls: Object.keys(r.spec.targets), maxOngoing: r.spec.options.maxOngoingRequests };
      let window = this.windows.get(r.name);
      if (!window) this.windows.set(r.name, (window = new LoadWindow()));
      window.add(now, r.router.queued + r.router.inFlight);
      // Fixed deployments are sampled too: a saturated one holds back the steps that call it.
      const intervalS = config?.metricsIntervalS ?? SAMPLE_MS / 1000;
      let report = this.reported.get(r.name);
      if (!report || now - report.at >= intervalS * 1000) {
        report = { ongoing: window.mean(now, (config?.lookBackPeriodS ?? FIXED_LOOK_BACK_S) * 1000), at: now };
        this.reported.set(r.name, report);
      }
      return { name: r.name, config, target: r.target, running: r.running, ongoing: report.ongoing, ...shape };
    });
    if (!loads.some((l) => l.config)) return;
    const outcome = decide(loads, this.memory, now, this.budget);
    this.memory = outcome.memory;
    for (const d of outcome.decisions) this.record(d);
    for (const r of runners) {
      const to = outcome.targets[r.name];
      if (to === undefined || to === r.target) continue;
      r.scaleTo(to).catch((err: Error) => this.log.error({ deployment: r.name, err: err.message }, 'autoscaling could not apply its decision'));
    }
  }

  private record(d: Decision): void {
    this.decisions.push({ ...d, time: new Date().toISOString() });
    this.runners()
      .find((r) => r.name === d.deployment)
      ?.recordAutoscalingDecision({ at: Date.now(), from: d.from, to: d.to, reason: d.reason });
    if (this.decisions.length > RECENT_DECISIONS) this.decisions.shift();
    this.metrics.autoscalingDecision(d.deployment, d.reason);
    const fields = { deployment: d.deployment, from: d.from, to: d.to, wanted: d.wanted, ongoing: Number(d.ongoing.toFixed(2)), reason: d.reason };
    if (d.reason === 'budget') this.log.warn({ ...fields, budget: this.budget }, 'autoscaling held back by the replica thread budget (maxReplicaThreads)');
    else this.log.info(fields, 'autoscaling decision');
  }
}
