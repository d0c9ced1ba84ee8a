/**
 * What HTTP clients see: answered requests by status class and their latency (from the
 * request's arrival to the end of the answer, as fastify measures `reply.elapsedTime`).
 * Recorded by one onResponse hook for the application and Open Inference Protocol routes;
 * the `/-/` routes (this dashboard's own traffic among them) and `/metrics` are left out so
 * that watching does not move the charts. Recording is a log2 and three additions.
 */
import type { FastifyInstance } from 'fastify';

/** Latency bucket edges: 50 µs to ~2 min, each 25% above the last (quantiles within ±12%). */
const MIN_S = 50e-6;
const RATIO = 1.25;
const BUCKETS = 66;
export const HTTP_LATENCY_BOUNDS_S: readonly number[] = Array.from({ length: BUCKETS }, (_, i) => MIN_S * RATIO ** i);
const LOG_RATIO = Math.log(RATIO);

export interface HttpReading {
  requests: number;
  /** Answers with a 4xx status. */
  clientErrors: number;
  /** Answers with a 5xx status. */
  serverErrors: number;
  /** Per-bucket latency counts over HTTP_LATENCY_BOUNDS_S, plus one overflow bucket. */
  latency: Float64Array;
}

export class HttpTraffic {
  private readonly latency = new Float64Array(BUCKETS + 1);
  private requests = 0;
  private clientErrors = 0;
  private serverErrors = 0;

  record(seconds: number, status: number): void {
    this.requests++;
    if (status >= 500) this.serverErrors++;
    else if (status >= 400) this.clientErrors++;
    const i = seconds <= MIN_S ? 0 : Math.ceil(Math.log(seconds / MIN_S) / LOG_RATIO - 1e-9);
    this.latency[Math.min(i, BUCKETS)]!++;
  }

  /** A copy of the counters, to subtract from the next one. */
  reading(): HttpReading {
    return { requests: this.requests, clientErrors: this.clientErrors, serverErrors: this.serverErrors, latency: this.latency.slice() };
  }

  /** Counts every answered request of `http`, except the `/-/` routes and `/metrics`. */
  observe(http: FastifyInstance): void {
    http.addHook('onResponse', (req, reply, done) => {
      const url = req.url;
      if (!(url.startsWith('/-/') || url === '/metrics' || url.startsWith('/metrics?'))) this.record(reply.elapsedTime / 1000, reply.statusCode);
      done();
    });
  }
}
