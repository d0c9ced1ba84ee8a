/**
 * Every message that crosses between the main thread and a replica, in one place.
 * Messages travel in arrays: a port writer coalesces everything sent in one microtask into a
 * single postMessage, which is what makes pipelined calls cheap.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './errors.ts';
import type { HandleRef } from './handle.ts';

/** Things a replica counts for the main thread's /metrics. */
export type ReplicaEvent =
  | { kind: 'batch'; size: number }
  | { kind: 'model'; event: 'hit' | 'miss' | 'load' | 'eviction' | 'loadError'; seconds?: number };

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
}

/** Main thread to replica. */
export type ToReplica =
  /** `mm`: the multiplexed model id the call is for. */
  | { k: 'call'; id: number; m: string; a: unknown[]; mm?: string }
  | { k: 'hres'; id: number; ok: true; v: unknown }
  | { k: 'hres'; id: number; ok: false; e: SerializedError }
  | { k: 'health'; id: number }
  | { k: 'reconf'; id: number; cfg: unknown }
  | { k: 'drain' };

/** Replica to main thread. */
export type FromReplica =
  | { k: 'ready'; methods: string[] }
  | { k: 'res'; id: number; ok: true; v: unknown }
  | { k: 'res'; id: number; ok: false; e: SerializedError }
  | { k: 'hcall'; id: number; d: string; m: string; a: unknown[]; t?: number; mm?: string }
  /** The multiplexed model ids this replica holds now, most recently used first. */
  | { k: 'models'; ids: string[] }
  /** Counted events for /metrics (batch sizes, model loads and evictions). */
  | { k: 'ev'; e: ReplicaEvent };

export type { HandleRef };
