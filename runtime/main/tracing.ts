/**
 * OpenTelemetry spans, on the main thread, with the SDK the user registered (through
 * @opentelemetry/api; threadserve ships no SDK). One span per hop: the HTTP request (server
 * span), and each deployment call (client span, queue wait as an attribute).
 *
 * Replica threads load no SDK: they time the calls they make over direct links (and the ones
 * the main thread relays for them), give each a local span id that travels on in the
 * `traceparent` of the calls it makes, and send the records to the main thread with the
 * direct-call report (worker/call-tracing.ts). Here each record becomes a span with the user's
 * tracer: its parent is a main-thread span (an SDK id already) or another record, whose SDK id
 * is known once that record is recorded; records wait for their parent until then.
 *
 * Without a registered SDK, `detectTracer()` gives undefined and nothing here runs.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { CallOptions } from '../shared/handle.ts';
import { formatTraceparent, parseTraceparent } from '../shared/trace-context.ts';
import type { CallTrace, SpanRecord } from '../shared/trace-context.ts';

const SCOPE = 'threadserve';
/** Local ids and waiting records are forgotten after one to two of these. */
const FORGET_AFTER_MS = 60_000;

/** Whether an SDK is registered: the API's no-op tracer makes spans with an invalid context. */
export function detectTracer(): Tracer | undefined {
  const tracer = trace.getTracer(SCOPE);
  // Never ended, so never exported.
  const probe = tracer.startSpan('threadserve.probe', { root: true });
  return isSpanContextValid(probe.spanContext()) ? tracer : undefined;
}

/** A map whose entries live one to two periods: enough for a request's records to meet. */
class Forgetful<K, V> {
  private cur = new Map<K, V>();
  private prev = new Map<K, V>();
  private swappedAt = Date.now();

  get(k: K): V | undefined {
    return this.cur.get(k) ?? this.prev.get(k);
  }

  set(k: K, v: V): void {
    const now = Date.now();
    if (now - this.swappedAt > FORGET_AFTER_MS) {
      this.prev = this.cur;
      this.cur = new Map();
      this.swappedAt = now;
    }
    this.cur.set(k, v);
  }

  delete(k: K): void {
    this.cur.delete(k);
    this.prev.delete(k);
  }
}

export interface IngressSpan {
  readonly callTrace: CallTrace;
  end(status: number, route: string, errorCode: string | undefined): void;
}

export type IngressTracer = Pick<Tracing, 'start'>;

export class Tracing {
  private readonly realIds = new Forgetful<string, string>();
  private readonly waiting = new Forgetful<string, SpanRecord[]>();
  /** Queue waits of relayed calls, by the caller replica's local span id. */
  private readonly relayWaits = new Forgetful<string, number>();

  constructor(private readonly tracer: Tracer) {}

  /** The HTTP request's server span, a child of the client's `traceparent` when it sent one. */
  start(req: FastifyRequest): IngressSpan {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = this.tracer.startSpan(
      `${req.method} ${req.routeOptions.url ?? ''}`.trim(),
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.url.split('?')[0], 'threadserve.request_id': req.id } },
      parent,
    );
    const sc = span.spanContext();
    const callTrace: CallTrace = {
      rid: req.id,
      tp: formatTraceparent(sc.traceId, sc.spanId, (sc.traceFlags & TraceFlags.SAMPLED) !== 0),
      ctx: trace.setSpan(parent, span),
    };
    return {
      callTrace,
      end: (status, route, errorCode) => {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
        if (errorCode !== undefined) span.setAttribute('threadserve.error_code', errorCode);
        span.end();
      },
    };
  }

  /** A call that starts on the main thread (the ingress, a main-thread handle, a relayed call): its span and the options to send it with. */
  call(deployment: string, method: string, options: CallOptions, send: (o: CallOptions) => Promise<unknown>): Promise<unknown> {
    const given = options.trace;
    if (given?.tl === 1) {
      // Relayed for a replica, which records the call's span: note only the queue wait here.
      const local = given.tp?.slice(36, 52);
      return send({ ...options, observe: { started: (q) => local && this.relayWaits.set(local, q) } });
    }
    // From the ingress: its span's context; from a replica (unrecorded): the traceparent it sent;
    // from main-thread code: the context the caller is in.
    const parent = (given?.ctx as Context | undefined) ?? (given?.tp !== undefined ? remoteParent(given.tp) : context.active());
    const span = this.tracer.startSpan(
      `${deployment}.${method}`,
      { kind: SpanKind.CLIENT, attributes: callAttributes(deployment, method, given?.rid) },
      parent,
    );
    if (!span.isRecording()) return send(options);
    const sc = span.spanContext();
    const trace_: CallTrace = { tp: formatTraceparent(sc.traceId, sc.spanId, true) };
    if (given?.rid !== undefined) trace_.rid = given.rid;
    const sent = send({
      ...options,
      trace: trace_,
      observe: {
        started: (queuedS, replica) => {
          span.setAttribute('threadserve.queue_wait_ms', queuedS * 1000);
          span.setAttribute('threadserve.replica', replica);
        },
      },
    });
    return sent.then(
      (v) => {
        span.end();
        return v;
      },
      (err: unknown) => {
        endWithError(span, err);
        throw err;
      },
    );
  }

  /** Spans timed in replicas, recorded once their parents have SDK ids. */
  record(records: readonly SpanRecord[]): void {
    for (const r of records) {
      if (!r.pl) {
        this.create(r, r.p);
        continue;
      }
      const parent = this.realIds.get(r.p);
      if (parent !== undefined) this.create(r, parent);
      else {
        const list = this.waiting.get(r.p);
        if (list) list.push(r);
        else this.waiting.set(r.p, [r]);
      }
    }
  }

  private create(r: SpanRecord, parentId: string): void {
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: r.t, spanId: parentId, traceFlags: TraceFlags.SAMPLED });
    const [deployment, method] = splitName(r.n);
    const span = this.tracer.startSpan(r.n, { kind: SpanKind.CLIENT, startTime: r.st, attributes: callAttributes(deployment, method, r.rid) }, parent);
    const wait = this.relayWaits.get(r.s);
    span.setAttribute('threadserve.queue_wait_ms', wait === undefined ? 0 : wait * 1000);
    span.setAttribute('threadserve.path', wait === undefined ? 'direct' : 'relayed');
    if (r.r !== undefined) span.setAttribute('threadserve.replica', r.r);
    if (r.e !== undefined) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: r.e });
      span.setAttribute('threadserve.error_code', r.e);
    }
    span.end(r.en);
    const realId = span.spanContext().spanId;
    this.realIds.set(r.s, realId);
    this.relayWaits.delete(r.s);
    const children = this.waiting.get(r.s);
    if (children) {
      this.waiting.delete(r.s);
      for (const c of children) this.create(c, realId);
    }
  }
}

function remoteParent(tp: string): Context {
  const p = parseTraceparent(tp);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: p.traceId,
    spanId: p.spanId,
    traceFlags: p.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

function splitName(n: string): [string, string] {
  const dot = n.lastIndexOf('.');
  return [n.slice(0, dot), n.slice(dot + 1)];
}

function callAttributes(deployment: string, method: string, rid: string | undefined): Record<string, string> {
  const a: Record<string, string> = { 'threadserve.deployment': deployment, 'threadserve.method': method };
  if (rid !== undefined) a['threadserve.request_id'] = rid;
  return a;
}

function endWithError(span: Span, err: unknown): void {
  const code = (err as { code?: unknown })?.code;
  const message = (err as Error)?.message;
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : message });
  if (typeof code === 'string') span.setAttribute('threadserve.error_code', code);
  span.end();
}
