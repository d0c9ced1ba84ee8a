/**
 * What a deployment runner reports about its replicas (for /-/status, the admin API, the
 * dashboard and /metrics): read-only views over the replicas it holds.
 */
import type { Replica } from './replica.ts';

export interface ReplicaStatus {
  id: string;
  state: string;
  inFlight: number;
  gpuIds: number[];
  /** Multiplexed model ids the replica holds (empty for other deployments). */
  models: string[];
  /** When the replica's thread was started (ms since the epoch). */
  startedAt: number;
}

/** One replica-count change an autoscaler made, for /-/status and the dashboard. */
export interface AutoscalingDecision {
  /** Milliseconds since the epoch. */
  at: number;
  from: number;
  to: number;
  reason: string;
}

export interface ReplicaHeap {
  deployment: string;
  replica: string;
  used: number;
  total: number;
}

export function replicaStatus(replicas: Iterable<Replica>): ReplicaStatus[] {
  return [...replicas].map((r) => ({
    id: r.id,
    state: r.state,
    inFlight: r.inFlight,
    gpuIds: r.spec.gpuIds,
    models: [...r.models].sort(),
    startedAt: r.startedAt,
  }));
}

/** Multiplexed model ids any of the replicas holds (or is about to). */
export function heldModels(replicas: Iterable<Replica>): string[] {
  const ids = new Set<string>();
  for (const r of replicas) for (const id of r.models) ids.add(id);
  return [...ids];
}

/** The V8 heap of each running replica that answers within `timeoutS` (a busy thread does not). */
export async function replicaHeaps(deployment: string, replicas: Iterable<Replica>, timeoutS: number): Promise<ReplicaHeap[]> {
  const running = [...replicas].filter((r) => r.state === 'running');
  const answers = await Promise.all(
    running.map((r) =>
      r.heap(timeoutS).then(
        (h) => ({ deployment, replica: r.id, ...h }),
        () => undefined,
      ),
    ),
  );
  return answers.filter((a) => a !== undefined);
}
