/**
 * Samples traffic once a second into a bounded ring, so that a page opened now gets the last
 * minutes at once and then one sample a second. Each sample holds rates and quantiles over the
 * second since the previous one: HTTP requests/s, p50/p99 latency and error rates, and per
 * deployment calls/s, error rate, p50/p99 processing time, p99 queue wait, queued and running
 * calls, mean batch size and multiplexed-model hit rate. Counters come from the registry
 * (metric-readings.ts), HTTP from HttpTraffic; the clock is injectable for tests.
 */
import type { Registry } from 'prom-client';
import { HTTP_LATENCY_BOUNDS_S } from './http-traffic.ts';
import type { HttpReading, HttpTraffic } from './http-traffic.ts';
import { METRIC, byDeployment, histogramDelta, readCounter, readHistogram } from './metric-readings.ts';
import type { HistogramReading } from './metric-readings.ts';
import { bucketQuantile, fromCumulative } from './quantiles.ts';

export interface DeploymentSample {
  rps: number;
  /** Failed calls / calls, null without calls. */
  errorRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  queueP99Ms: number | null;
  queued: number;
  inFlight: number;
  /** Mean items per batch run, null without batches. */
  batchMean: number | null;
  /** Multiplexed-model cache hits / (hits + misses), null without lookups. */
  hitRate: number | null;
}

export interface TrafficSample {
  /** Milliseconds since the epoch. */
  t: number;
  http: { rps: number; p50Ms: number | null; p99Ms: number | null; clientErrorRate: number | null; serverErrorRate: number | null };
  deployments: Record<string, DeploymentSample>;
}

export interface DeploymentTotals {
  requests: number;
  errors: number;
  batches: number;
  batchedItems: number;
  modelHits: number;
  modelMisses: number;
  modelLoads: number;
  modelEvictions: number;
}

export interface TrafficTotals {
  http: { requests: number; clientErrors: number; serverErrors: number };
  deployments: Record<string, DeploymentTotals>;
}

export interface TrafficSources {
  registry: Registry;
  http: HttpTraffic;
  /** Queue lengths and running calls now, per deployment. */
  gauges(): Array<{ name: string; queued: number; inFlight: number }>;
}

interface Reading {
  t: number;
  http: HttpReading;
  requests: Map<string, number>;
  errors: Map<string, number>;
  processing: Map<string, HistogramReading>;
  queueWait: Map<string, HistogramReading>;
  batches: Map<string, HistogramReading>;
  /** Keyed `deployment|event`. */
  modelEvents: Map<string, number>;
}

const ms = (s: number | null) => (s === null ? null : s * 1000);
const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : null);

function quantilesMs(h: HistogramReading | undefined): [number | null, number | null] {
  if (!h || h.count <= 0) return [null, null];
  // Every observation was 0 (calls that never waited): interpolating inside the first bucket
  // would report a wait that never happened.
  if (h.sum <= 0) return [0, 0];
  const counts = fromCumulative(h.cumulative, h.count);
  return [ms(bucketQuantile(0.5, h.bounds, counts)), ms(bucketQuantile(0.99, h.bounds, counts))];
}

export class TrafficSampler {
  private readonly ring: TrafficSample[] = [];
  private head = 0;
  private last: Reading | undefined;
  private busy = false;
  totals: TrafficTotals = { http: { requests: 0, clientErrors: 0, serverErrors: 0 }, deployments: {} };

  constructor(
    private readonly sources: TrafficSources,
    /** Samples kept (one a second): 300 is the last five minutes. */
    readonly capacity = 300,
    private readonly now: () => number = Date.now,
  ) {}

  /** The kept samples, oldest first. */
  history(): TrafficSample[] {
    return this.ring.length < this.capacity ? this.ring.slice() : [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
  }

  /** Reads every counter; returns the sample since the previous read (none on the first). */
  async sample(): Promise<TrafficSample | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    try {
      const reading = await this.read();
      const previous = this.last;
      this.last = reading;
      this.totals = this.totalsOf(reading);
      if (!previous || reading.t <= previous.t) return undefined;
      const s = this.diff(reading, previous);
      if (this.ring.length < this.capacity) this.ring.push(s);
      else {
        this.ring[this.head] = s;
        this.head = (this.head + 1) % this.capacity;
      }
      return s;
    } finally {
      this.busy = false;
    }
  }

  private async read(): Promise<Reading> {
    const { registry } = this.sources;
    const [requests, errors, processing, queueWait, batches, modelEvents] = await Promise.all([
      readCounter(registry, METRIC.requests, byDeployment),
      readCounter(registry, METRIC.errors, byDeployment),
      readHistogram(registry, METRIC.processing),
      readHistogram(registry, METRIC.queueWait),
      readHistogram(registry, METRIC.batchSize),
      readCounter(registry, METRIC.modelEvents, (l) => `${l.deployment}|${l.event}`),
    ]);
    return { t: this.now(), http: this.sources.http.reading(), requests, errors, processing, queueWait, batches, modelEvents };
  }

  private diff(now: Reading, before: Reading): TrafficSample {
    const dt = (now.t - before.t) / 1000;
    const count = (m: Map<string, number>, was: Map<string, number>, k: string) => (m.get(k) ?? 0) - (was.get(k) ?? 0);
    const deployments: Record<string, DeploymentSample> = {};
    for (const g of this.sources.gauges()) {
      const name = g.name;
      const calls = count(now.requests, before.requests, name);
      const [p50Ms, p99Ms] = quantilesMs(this.delta(now.processing, before.processing, name));
      const [, queueP99Ms] = quantilesMs(this.delta(now.queueWait, before.queueWait, name));
      const batch = this.delta(now.batches, before.batches, name);
      const hits = count(now.modelEvents, before.modelEvents, `${name}|hit`);
      const misses = count(now.modelEvents, before.modelEvents, `${name}|miss`);
      deployments[name] = {
        rps: calls / dt,
        errorRate: ratio(count(now.errors, before.errors, name), calls),
        p50Ms,
        p99Ms,
        queueP99Ms,
        queued: g.queued,
        inFlight: g.inFlight,
        batchMean: batch && batch.count > 0 ? batch.sum / batch.count : null,
        hitRate: ratio(hits, hits + misses),
      };
    }
    const h = now.http;
    const requests = h.requests - before.http.requests;
    const latency = h.latency.map((c, i) => c - before.http.latency[i]!);
    return {
      t: now.t,
      http: {
        rps: requests / dt,
        p50Ms: ms(bucketQuantile(0.5, HTTP_LATENCY_BOUNDS_S, latency)),
        p99Ms: ms(bucketQuantile(0.99, HTTP_LATENCY_BOUNDS_S, latency)),
        clientErrorRate: ratio(h.clientErrors - before.http.clientErrors, requests),
        serverErrorRate: ratio(h.serverErrors - before.http.serverErrors, requests),
      },
      deployments,
    };
  }

  private delta(now: Map<string, HistogramReading>, before: Map<string, HistogramReading>, name: string): HistogramReading | undefined {
    const h = now.get(name);
    return h && histogramDelta(h, before.get(name));
  }

  private totalsOf(r: Reading): TrafficTotals {
    const deployments: Record<string, DeploymentTotals> = {};
    const event = (name: string, e: string) => r.modelEvents.get(`${name}|${e}`) ?? 0;
    for (const { name } of this.sources.gauges()) {
      const batches = r.batches.get(name);
      deployments[name] = {
        requests: r.requests.get(name) ?? 0,
        errors: r.errors.get(name) ?? 0,
        batches: batches?.count ?? 0,
        batchedItems: batches?.sum ?? 0,
        modelHits: event(name, 'hit'),
        modelMisses: event(name, 'miss'),
        modelLoads: event(name, 'load'),
        modelEvictions: event(name, 'eviction'),
      };
    }
    const { requests, clientErrors, serverErrors } = r.http;
    return { http: { requests, clientErrors, serverErrors }, deployments };
  }
}
