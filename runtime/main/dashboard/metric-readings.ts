/**
 * Reads the per-deployment numbers the dashboard charts out of the instance's Prometheus
 * registry (the same numbers `/metrics` exports), by metric name. Reading the registry instead
 * of hooking the routers keeps the per-call path untouched: the dashboard costs nothing per
 * call, only one read of a few metrics per second.
 */
import type { Registry } from 'prom-client';

export const METRIC = {
  requests: 'threadserve_requests_total',
  errors: 'threadserve_request_errors_total',
  processing: 'threadserve_processing_duration_seconds',
  queueWait: 'threadserve_queue_duration_seconds',
  batchSize: 'threadserve_batch_size',
  modelEvents: 'threadserve_multiplexed_model_events_total',
} as const;

export interface HistogramReading {
  /** Upper bucket edges, ascending (without +Inf). */
  bounds: number[];
  /** Cumulative counts per edge, as Prometheus keeps them. */
  cumulative: number[];
  count: number;
  sum: number;
}

interface MetricValue {
  labels: Record<string, string | number | undefined>;
  value: number;
  metricName?: string;
}

async function valuesOf(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()).values ?? []) as MetricValue[];
}

/** A counter's values summed per key (the deployment, or deployment and another label). */
export async function readCounter(registry: Registry, name: string, key: (labels: MetricValue['labels']) => string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of await valuesOf(registry, name)) {
    const k = key(v.labels);
    out.set(k, (out.get(k) ?? 0) + v.value);
  }
  return out;
}

export const byDeployment = (labels: MetricValue['labels']): string => String(labels.deployment);

/** A histogram per deployment. */
export async function readHistogram(registry: Registry, name: string): Promise<Map<string, HistogramReading>> {
  const out = new Map<string, HistogramReading>();
  const get = (deployment: string) => {
    let h = out.get(deployment);
    if (!h) out.set(deployment, (h = { bounds: [], cumulative: [], count: 0, sum: 0 }));
    return h;
  };
  for (const v of await valuesOf(registry, name)) {
    const h = get(String(v.labels.deployment));
    if (v.metricName === `${name}_bucket`) {
      const le = v.labels.le;
      if (le === '+Inf' || le === undefined) continue;
      h.bounds.push(Number(le));
      h.cumulative.push(v.value);
    } else if (v.metricName === `${name}_count`) h.count = v.value;
    else if (v.metricName === `${name}_sum`) h.sum = v.value;
  }
  for (const h of out.values()) {
    // Keep edges ascending whatever order the registry listed them in.
    const order = h.bounds.map((_, i) => i).sort((a, b) => h.bounds[a]! - h.bounds[b]!);
    h.bounds = order.map((i) => h.bounds[i]!);
    h.cumulative = order.map((i) => h.cumulative[i]!);
  }
  return out;
}

/** `now - before` for every bucket (a deployment first seen counts from zero). */
export function histogramDelta(now: HistogramReading, before: HistogramReading | undefined): HistogramReading {
  if (!before || before.bounds.length !== now.bounds.length) return now;
  return {
    bounds: now.bounds,
    cumulative: now.cumulative.map((c, i) => c - before.cumulative[i]!),
    count: now.count - before.count,
    sum: now.sum - before.sum,
  };
}
