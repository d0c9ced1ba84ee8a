/**
 * HTTP metrics for `/metrics`: answers by route pattern, method and status class, and latency
 * histograms by route and method. Kept as plain numbers like the per-call metrics
 * (call-metrics.ts explains why) and turned into Prometheus text when scraped. Labels are
 * fastify's route patterns (`/v2/models/:model_name/infer`), never raw URLs, so the number of
 * series stays bounded whatever clients send.
 */
import type { MetricValueWithName, Registry } from 'prom-client';
import { HistogramCell, ScrapedMetric } from './call-metrics.ts';
import type { Values } from './call-metrics.ts';

const HTTP_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** One route and method: answers per status class, and their latencies. */
class RouteCell {
  readonly byClass = new Float64Array(CLASSES.length);
  readonly latency = new HistogramCell(HTTP_BUCKETS_S);
  constructor(
    readonly route: string,
    readonly method: string,
  ) {}
}

class HttpRequestsCounter extends ScrapedMetric {
  constructor(
    private readonly cells: Map<string, RouteCell>,
    registry: Registry,
  ) {
    super('threadserve_http_requests_total', 'HTTP answers by route pattern, method and status class', 'counter', registry);
  }

  async get(): Promise<Values> {
    const values: MetricValueWithName<string>[] = [];
    for (const c of this.cells.values()) {
      c.byClass.forEach((n, i) => {
        if (n > 0) values.push({ labels: { route: c.route, method: c.method, status_class: CLASSES[i]! }, value: n, metricName: this.name });
      });
    }
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: 'sum', collect: () => undefined };
  }

  reset(): void {
    for (const c of this.cells.values()) c.byClass.fill(0);
  }
}

class HttpLatencyHistogram extends ScrapedMetric {
  constructor(
    private readonly cells: Map<string, RouteCell>,
    registry: Registry,
  ) {
    super(
      'threadserve_http_request_duration_seconds',
      'Time from receiving an HTTP request to its answer being written, by route pattern and method',
      'histogram',
      registry,
    );
  }

  async get(): Promise<Values> {
    const values: MetricValueWithName<string>[] = [];
    for (const c of this.cells.values()) {
      const h = c.latency;
      if (h.count === 0) continue;
      const labels = { route: c.route, method: c.method };
      let cumulative = 0;
      HTTP_BUCKETS_S.forEach((le, i) => {
        cumulative += h.buckets[i]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: h.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: h.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: h.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: 'sum', collect: () => undefined };
  }

  reset(): void {
    for (const c of this.cells.values()) {
      c.latency.buckets.fill(0);
      c.latency.sum = 0;
      c.latency.count = 0;
    }
  }
}

export class HttpMetrics {
  private readonly cells = new Map<string, RouteCell>();

  constructor(registry: Registry) {
    new HttpRequestsCounter(this.cells, registry);
    new HttpLatencyHistogram(this.cells, registry);
  }

  /** One answer: `route` is the matched pattern ('(unmatched)' for a 404 without a route). */
  observe(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${route}`;
    let cell = this.cells.get(key);
    if (!cell) this.cells.set(key, (cell = new RouteCell(route, method)));
    const cls = Math.floor(status / 100) - 1;
    if (cls >= 0 && cls < CLASSES.length) cell.byClass[cls]!++;
    cell.latency.observe(seconds);
  }
}
