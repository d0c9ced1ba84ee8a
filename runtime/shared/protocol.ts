/**
 * Every message that crosses between threads, in one place: main thread <-> replica, and
 * replica <-> replica over the direct links the main thread sets up between a replica that
 * holds a handle and the replicas of the deployment it calls.
 * Messages travel in arrays: a port writer coalesces everything sent in one event-loop turn
 * into a single postMessage, which is what makes pipelined calls cheap.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './errors.ts';
import type { HandleRef } from './handle.ts';
import type { SpanRecord, WireTrace } from './trace-context.ts';

/** Things a replica counts for the main thread's /metrics. */
export type ReplicaEvent =
  | { kind: 'batch'; size: number }
  /** `seconds`: a load's own time; `waitSeconds`: how long it waited for its turns (this replica's, then the deployment's). */
  | { kind: 'model'; event: 'hit' | 'miss' | 'admitted' | 'rejected' | 'load' | 'eviction' | 'loadError'; seconds?: number; waitSeconds?: number };

/** Per-request context the ingress hands to `call(body, request)`. */
export interface RequestContext {
  id: string;
  method: string;
  url: string;
  /** The part of the path after the route prefix ('' for the prefix itself). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
}

/** Sent once, as the piscina task that lives as long as the replica. */
export interface StartMessage {
  deployment: string;
  replicaId: string;
  replicaIndex: number;
  moduleUrl: string;
  classKey: string;
  /** Constructor arguments; HandleRefs inside are replaced with live handles. */
  args: unknown[];
  userConfig: unknown;
  hasUserConfig: boolean;
  /** GPU device ids assigned to this replica (empty: CPU only). */
  gpuIds: number[];
  /** Replicas of all deployments in this process, to share cores among (e.g. intra-op threads). */
  replicasInProcess: number;
  port: MessagePort;
  /** This replica's place in its deployment's in-flight table (see slot-table.ts). */
  slot: SlotRef;
  /** For each deployment this replica holds a handle to: its in-flight table and limit. */
  targets: Record<string, TargetRef>;
  /** An OpenTelemetry SDK is registered on the main thread: time outbound calls as spans. */
  tracing: boolean;
}

export interface SlotRef {
  table: SharedArrayBuffer;
  slot: number;
  gen: number;
}

export interface TargetRef {
  table: SharedArrayBuffer;
  maxOngoing: number;
}

export interface DirectCalls {
  s: number[];
  e: number;
}

/*
 * Calls to a replica and their answers (from the main thread or over a direct link) travel as
 * arrays, every other message as an object with a kind `k`: V8's deserializer builds an
 * object's shape key by key, and arrays saved ~1 µs of CPU per round trip in the transport
 * bench (a fifth of a pipelined call's cost). An array is always a call or an answer.
 */

/**
 * A call: [call id, method, arguments, multiplexed model id?, trace?]. The trace element (the
 * request id and trace context, trace-context.ts) is there only when the call has them, with
 * the model id slot left undefined when there is none.
 */
export type CallMessage = [id: number, method: string, args: unknown[], modelId?: string, trace?: WireTrace];

/** The answer to a call, a health check or a reconfigure: [id, 1, result] or [id, 0, error]. */
export type AnswerMessage = [id: number, ok: 1, v: unknown] | [id: number, ok: 0, e: SerializedError];

/** Callee replica to caller replica: answers, and the models it holds when they change. */
export type LinkReply = AnswerMessage | { k: 'models'; ids: string[] };

/** Main thread to replica. */
export type ToReplica =
  | CallMessage
  | { k: 'hres'; id: number; ok: true; v: unknown }
  | { k: 'hres'; id: number; ok: false; e: SerializedError }
  | { k: 'health'; id: number }
  /** Asks for the thread's V8 heap statistics (for /metrics). */
  | { k: 'heap'; id: number }
  | { k: 'reconf'; id: number; cfg: unknown }
  | { k: 'drain' }
  /** A direct link to replica `r` (slot `s`, generation `g`) of deployment `d`, for this replica's handles. */
  | { k: 'link'; d: string; r: string; s: number; g: number; port: MessagePort }
  /** That replica takes no more calls; `died` fails the calls still waiting on it (with that message). */
  | { k: 'unlink'; d: string; s: number; g: number; died?: string }
  /** A caller replica's end of a new direct link: serve the calls that come in over it. */
  | { k: 'linkIn'; port: MessagePort };

/** Replica to main thread. */
export type FromReplica =
  | { k: 'ready'; methods: string[] }
  | AnswerMessage
  | { k: 'hcall'; id: number; d: string; m: string; a: unknown[]; t?: number; mm?: string; tr?: WireTrace }
  /** The multiplexed model ids this replica holds now, most recently used first. */
  | { k: 'models'; ids: string[] }
  /** Counted events for /metrics (batch sizes, model loads and evictions). */
  | { k: 'ev'; e: ReplicaEvent }
  /** A slot freed while the main thread's queue for this deployment was not empty. */
  | { k: 'free' }
  /**
   * Handle calls this replica made over direct links since the last report, per target
   * deployment: durations (s) and failures. Sent ahead of the answers of the same turn, so
   * /metrics has counted the inner calls of a request by the time the request is answered.
   */
  | { k: 'served'; calls: Record<string, DirectCalls>; spans?: SpanRecord[] };

export type { HandleRef, WireTrace };
