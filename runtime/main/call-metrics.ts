/**
 * The per-call metrics (request and error counts, queue and processing histograms), kept as
 * plain numbers per deployment and handed to prom-client's registry only when /metrics is
 * scraped. Why not prom-client's Counter and Histogram: their observe() validates and hashes
 * the labels on every call (even through `.labels()`), which a profile of the three-hop HTTP
 * bench put at ~12% of the main thread, the thread every request passes. Here an observation
 * is a short bucket scan and two additions; the text format is the same.
 */
import type { Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

export type Values = MetricObjectWithValues<MetricValueWithName<string>>;

/** What the registry needs of a metric: its name, and its values when scraped. */
export abstract class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric<string>);
  }

  abstract get(): Promise<Values>;
  abstract reset(): void;
}

/** A counter labelled by deployment. */
export class DeploymentCounter extends ScrapedMetric {
  private readonly counts = new Map<string, { n: number }>();

  constructor(name: string, help: string, registry: Registry) {
    super(name, help, 'counter', registry);
  }

  /** A cell to increment (`cell.n++`), bound once per deployment. */
  cell(deployment: string): { n: number } {
    let c = this.counts.get(deployment);
    if (!c) this.counts.set(deployment, (c = { n: 0 }));
    return c;
  }

  async get(): Promise<Values> {
    const values = [...this.counts].filter(([, c]) => c.n > 0).map(([deployment, c]) => ({ labels: { deployment }, value: c.n, metricName: this.name }));
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: 'sum', collect: () => undefined };
  }

  reset(): void {
    for (const c of this.counts.values()) c.n = 0;
  }
}

/** One deployment's histogram cells: counts per bucket (not cumulative), sum and count. */
export class HistogramCell {
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.buckets[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram labelled by deployment, in Prometheus's cumulative-bucket form when scraped. */
export class DeploymentHistogram extends ScrapedMetric {
  private readonly cells = new Map<string, HistogramCell>();

  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    super(name, help, 'histogram', registry);
  }

  cell(deployment: string): HistogramCell {
    let c = this.cells.get(deployment);
    if (!c) this.cells.set(deployment, (c = new HistogramCell(this.bounds)));
    return c;
  }

  async get(): Promise<Values> {
    const values: MetricValueWithName<string>[] = [];
    for (const [deployment, c] of this.cells) {
      if (c.count === 0) continue;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += c.buckets[i]!;
        values.push({ labels: { le, deployment }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', deployment }, value: c.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { deployment }, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { deployment }, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: 'sum', collect: () => undefined };
  }

  reset(): void {
    for (const c of this.cells.values()) {
      c.buckets.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
