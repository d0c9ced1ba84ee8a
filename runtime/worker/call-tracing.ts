/**
 * Inside a replica: the request id and trace context of the call being served, so that the
 * handle calls the user's code makes while serving it carry them on (over direct links or
 * through the main thread). Only replicas that hold handles keep the context: a replica that
 * calls nobody has nothing to pass on and pays nothing (async context costs every promise of
 * the thread).
 *
 * With tracing on (an OpenTelemetry SDK registered on the main thread), each outbound call of
 * a sampled trace is timed as a span with a local id, which the callee sees as its parent in
 * `traceparent`; the records go to the main thread, which records them with the SDK
 * (main/tracing.ts). No SDK is loaded here.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { WireTrace } from '../shared/protocol.ts';
import { epochMs, formatTraceparent, parseTraceparent } from '../shared/trace-context.ts';
import type { CallTrace, SpanRecord } from '../shared/trace-context.ts';

/** An outbound call's context, and (traced calls only) how to close its span. */
export interface Outbound {
  trace: CallTrace;
  end?(error: unknown, replica: string | undefined): void;
}

export class CallTracing {
  private readonly store = new AsyncLocalStorage<CallTrace>();

  constructor(
    /** Record spans (the main thread has an SDK). */
    private readonly enabled: boolean,
    private readonly record: (r: SpanRecord) => void,
  ) {}

  /** Runs `fn` (serving a call that carried `call`) with the call's context current. */
  run<T>(call: WireTrace | undefined, fn: () => T): T {
    if (call === undefined || (call.rid === undefined && call.tp === undefined)) return fn();
    const ctx: CallTrace = {};
    if (call.rid !== undefined) ctx.rid = call.rid;
    if (call.tp !== undefined) ctx.tp = call.tp;
    if (call.tl !== undefined) ctx.tl = call.tl;
    return this.store.run(ctx, fn);
  }

  /** The context a handle call to `deployment.method` sends; undefined outside any traced call. */
  outbound(deployment: string, method: string): Outbound | undefined {
    const current = this.store.getStore();
    if (current === undefined) return undefined;
    const parent = this.enabled ? parseTraceparent(current.tp) : undefined;
    if (parent === undefined || !parent.sampled) return { trace: current };
    const span: SpanRecord = {
      t: parent.traceId,
      s: randomBytes(8).toString('hex'),
      p: parent.spanId,
      pl: current.tl === 1,
      n: `${deployment}.${method}`,
      st: epochMs(),
      en: 0,
    };
    if (current.rid !== undefined) span.rid = current.rid;
    const trace: CallTrace = { tp: formatTraceparent(parent.traceId, span.s, true), tl: 1 };
    if (current.rid !== undefined) trace.rid = current.rid;
    return {
      trace,
      end: (error, replica) => {
        span.en = epochMs();
        if (error !== undefined) {
          const code = (error as { code?: unknown })?.code;
          span.e = typeof code === 'string' ? code : 'ERROR';
        }
        if (replica !== undefined) span.r = replica;
        this.record(span);
      },
    };
  }
}

/** Closes an outbound call's span when the call settles. */
export function endWhenSettled(p: Promise<unknown>, out: Outbound | undefined, replica: () => string | undefined): Promise<unknown> {
  const end = out?.end;
  if (end === undefined) return p;
  return p.then(
    (v) => {
      end(undefined, replica());
      return v;
    },
    (e: unknown) => {
      end(e, replica());
      throw e;
    },
  );
}
