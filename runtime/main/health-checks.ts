/**
 * Periodic health checks of a deployment's running replicas: every healthCheckPeriodS each
 * runs its checkHealth() (if any) with healthCheckTimeoutS to answer; a replica that throws or
 * does not answer in time is reported once to `onFailed` (the runner replaces it).
 */
import type { Replica } from './replica.ts';

export class HealthChecks {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly replicas: () => Iterable<Replica>,
    private readonly timing: () => { healthCheckPeriodS: number; healthCheckTimeoutS: number },
    private readonly onFailed: (replica: Replica, err: Error) => void,
  ) {}

  /** Starts checking (again, with the current timing). */
  start(): void {
    this.stop();
    const { healthCheckPeriodS, healthCheckTimeoutS } = this.timing();
    this.timer = setInterval(() => {
      for (const r of this.replicas()) {
        if (r.state !== 'running') continue;
        r.checkHealth(healthCheckTimeoutS).catch((err: Error) => {
          if (r.state === 'running') this.onFailed(r, err);
        });
      }
    }, healthCheckPeriodS * 1000);
    this.timer.unref();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
