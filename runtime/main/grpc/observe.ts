/**
 * What the gRPC server records about each call, as the HTTP edge does for requests
 * (http-observability.ts): the request id (the client's `x-request-id` metadata, or a new
 * one) and its trace context (`traceparent` metadata), which the call's handle calls carry
 * into the replicas; one access log line per call (and per request of a ModelStreamInfer
 * stream); and `/metrics` counters and latencies by gRPC method and status code.
 */
import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { CallTrace } from '../../shared/trace-context.ts';

const USABLE_ID = /^[\x21-\x7e]{1,200}$/;
const BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CODE_NAMES = Object.fromEntries(
  Object.entries(Status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k]),
) as Record<number, string>;

/** The request id and trace context a gRPC call's metadata carries. */
export function callTraceOfMetadata(metadata: Metadata | undefined): CallTrace & { rid: string } {
  const given = metadata?.get('x-request-id')[0];
  const rid = typeof given === 'string' && USABLE_ID.test(given) ? given : randomUUID();
  const tp = metadata?.get('traceparent')[0];
  return typeof tp === 'string' ? { rid, tp } : { rid };
}

/** `threadserve_grpc_requests_total{method, code}` and `threadserve_grpc_request_duration_seconds{method}`. */
export class GrpcMetrics {
  private readonly requests: Counter<'method' | 'code'>;
  private readonly duration: Histogram<'method'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'threadserve_grpc_requests_total',
      help: 'gRPC calls answered (each request of a ModelStreamInfer stream counts once), by method and status code',
      labelNames: ['method', 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'threadserve_grpc_request_duration_seconds',
      help: 'Time from receiving a gRPC call (or a request on a stream) to its answer, by method',
      labelNames: ['method'],
      buckets: BUCKETS_S,
      registers: [registry],
    });
  }

  observe(method: string, code: Status, seconds: number): void {
    this.requests.inc({ method, code: CODE_NAMES[code] ?? String(code) });
    this.duration.observe({ method }, seconds);
  }
}

export interface GrpcObservation {
  method: string;
  /** The model the call was for, when it names one. */
  model?: string;
  rid: string;
  code: Status;
  ms: number;
  /** The error's message, for calls that failed. */
  message?: string;
  err?: unknown;
}

export class GrpcObserver {
  constructor(
    private readonly logger: Logger,
    private readonly accessLog: boolean,
    private readonly metrics: GrpcMetrics | undefined,
  ) {}

  record(o: GrpcObservation): void {
    this.metrics?.observe(o.method, o.code, o.ms / 1000);
    const fault = o.code === Status.INTERNAL || o.code === Status.UNKNOWN;
    if (!this.accessLog && !fault) return;
    const line: Record<string, unknown> = { reqId: o.rid, grpc: o.method, code: CODE_NAMES[o.code] ?? o.code, ms: Math.round(o.ms * 1000) / 1000 };
    if (o.model !== undefined) line.model = o.model;
    if (o.code !== Status.OK) line.error = { message: o.message };
    if (fault) this.logger.error({ ...line, err: o.err }, 'gRPC call failed');
    else this.logger.info(line, 'gRPC call');
  }
}
