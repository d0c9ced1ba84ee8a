/**
 * What the HTTP edge records about each request, as fastify hooks installed before any route:
 * the request id (`x-request-id`, taken from the client or generated, and returned), one
 * access log line, the HTTP metrics (http-metrics.ts), the ingress span when an OpenTelemetry
 * SDK is registered (tracing.ts), and the list of routes the CLI prints.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { CallTrace } from '../shared/trace-context.ts';
import type { HttpMetrics } from './http-metrics.ts';
import type { IngressTracer, IngressSpan } from './tracing.ts';

const REQUEST_ID_HEADER = 'x-request-id';
/** A client's id is kept when it is printable ASCII of reasonable length; otherwise a new one is made. */
const USABLE_ID = /^[\x21-\x7e]{1,200}$/;

/** fastify's genReqId: the client's `x-request-id`, or a new UUID. */
export function requestIdOf(raw: IncomingMessage): string {
  const given = raw.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && USABLE_ID.test(given) ? given : randomUUID();
}

export interface HttpObservabilityOptions {
  logger: Logger;
  /** One log line per request; when off, 5xx answers are still logged (with their stack). */
  accessLog: boolean;
  /** Undefined when HTTP metrics are off (`httpMetrics: false`). */
  metrics: HttpMetrics | undefined;
  /** Undefined when no OpenTelemetry SDK is registered: then tracing costs this one branch. */
  tracer: IngressTracer | undefined;
}

export interface RouteInfo {
  methods: string[];
  url: string;
}

const kError = Symbol('threadserve.error');
const kErrorCode = Symbol('threadserve.errorCode');
const kSpan = Symbol('threadserve.span');

interface Observed {
  [kError]?: Error;
  [kErrorCode]?: string;
  [kSpan]?: IngressSpan;
}

/** The error code an error answer carries (`{"error":{"code":...}}`), read without parsing the body. */
const CODE_IN_BODY = /"code":"([A-Za-z0-9_.-]{1,64})"/;

/** The trace context a request's handle calls carry: its id, and the traceparent of its span (or the client's). */
export function callTraceOf(req: FastifyRequest): CallTrace {
  const span = (req as unknown as Observed)[kSpan];
  if (span !== undefined) return span.callTrace;
  const tp = req.headers.traceparent;
  return typeof tp === 'string' ? { rid: req.id, tp } : { rid: req.id };
}

/**
 * Installs the hooks on the root instance; call before any route is registered. Returns the
 * routes as fastify registers them (filled in as routes are added).
 */
export function installHttpObservability(http: FastifyInstance, opts: HttpObservabilityOptions): RouteInfo[] {
  const { logger, accessLog, metrics, tracer } = opts;
  const routes: RouteInfo[] = [];
  http.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD' || route.method === 'HEAD');
    routes.push({ methods, url: route.url });
  });

  http.addHook('onRequest', (req, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    if (tracer !== undefined) (req as unknown as Observed)[kSpan] = tracer.start(req);
    done();
  });
  http.addHook('onError', (req, _reply, err, done) => {
    (req as unknown as Observed)[kError] = err;
    done();
  });
  http.addHook('onSend', (req, reply, payload, done) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const code = CODE_IN_BODY.exec(payload.slice(0, 400))?.[1];
      if (code !== undefined) (req as unknown as Observed)[kErrorCode] = code;
    }
    done(null, payload);
  });
  http.addHook('onResponse', (req, reply, done) => {
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const route = req.routeOptions.url ?? '(unmatched)';
    metrics?.observe(route, req.method, status, ms / 1000);
    const o = req as unknown as Observed;
    if (o[kSpan] !== undefined) o[kSpan].end(status, route, o[kErrorCode]);
    if (accessLog || status >= 500) logRequest(logger, req, reply, route, status, ms, o);
    done();
  });
  return routes;
}

function logRequest(logger: Logger, req: FastifyRequest, reply: FastifyReply, route: string, status: number, ms: number, o: Observed): void {
  const length = reply.getHeader('content-length');
  const line: Record<string, unknown> = {
    reqId: req.id,
    method: req.method,
    url: req.url,
    route,
    status,
    ms: Math.round(ms * 1000) / 1000,
    bytes: length === undefined ? undefined : Number(length),
  };
  const err = o[kError];
  const code = o[kErrorCode] ?? (err as FastifyError | undefined)?.code;
  if (status >= 400) line.error = { code, message: err?.message };
  if (status >= 500) {
    // The stack as its own field, so log tools keep it whole instead of one escaped line.
    if (err?.stack !== undefined) (line.error as Record<string, unknown>).stack = err.stack;
    logger.error(line, 'request failed');
  } else {
    logger.info(line, 'request');
  }
}
