/**
 * The trace context every handle call carries across threads: the request id and a W3C
 * `traceparent` (https://www.w3.org/TR/trace-context/). Span ids made inside replicas are
 * local (`tl`): the main thread records those spans with the user's OpenTelemetry SDK, which
 * gives them ids of its own, and maps the local ids to them (main/tracing.ts).
 */

export interface CallTrace {
  /** The request id (`x-request-id`) of the HTTP request the call serves. */
  rid?: string;
  /** `00-<trace id>-<parent span id>-<flags>`: the client's, or the span of the call that made this one. */
  tp?: string;
  /** The span id in `tp` was made in a replica and awaits its SDK id (see main/tracing.ts). */
  tl?: 1;
  /** Main thread only, never sent: the OpenTelemetry context to start the call's span in. */
  ctx?: unknown;
}

/** The request id and trace context as a call carries them across threads (CallTrace without `ctx`). */
export type WireTrace = Omit<CallTrace, 'ctx'>;

/** A call context as it travels between threads: only the fields that are set, never `ctx`. */
export function wireTrace(trace: CallTrace): WireTrace {
  const w: WireTrace = {};
  if (trace.rid !== undefined) w.rid = trace.rid;
  if (trace.tp !== undefined) w.tp = trace.tp;
  if (trace.tl !== undefined) w.tl = trace.tl;
  return w;
}

/** A span a replica timed, sent to the main thread to be recorded with the user's SDK. */
export interface SpanRecord {
  /** Trace id, the span's local id, its parent's id, and whether that parent id is local too. */
  t: string;
  s: string;
  p: string;
  pl: boolean;
  /** `Deployment.method` */
  n: string;
  /** Start and end, ms since the epoch (sub-millisecond). */
  st: number;
  en: number;
  /** Error code when the call failed. */
  e?: string;
  /** The replica that ran the call, when known (direct links). */
  r?: string;
  rid?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

export function parseTraceparent(tp: string | undefined): ParsedTraceparent | undefined {
  if (tp === undefined) return undefined;
  const m = TRACEPARENT.exec(tp);
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across threads. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
