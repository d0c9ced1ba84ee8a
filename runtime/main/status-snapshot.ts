/**
 * What `GET /-/status` answers, and what the dashboard draws: the applications (route and
 * ingress), and per deployment its options that matter for reading it, the deployments it
 * calls (the handles bound into its constructor: the application graph), its router's queue
 * and counts, its replicas (state, device, calls in flight, multiplexed models held) and the
 * autoscaling decisions made for it (empty unless an autoscaler records them).
 */
import type { AppSpec, Application } from './application.ts';
import type { AutoscalingDecision, ReplicaStatus } from './runner-status.ts';
import type { RouterStats } from './router.ts';
import type { RecordedDecision } from './autoscaler.ts';

export interface DeploymentStatus extends RouterStats {
  name: string;
  numReplicas: number;
  maxOngoingRequests: number;
  /** -1: no limit. */
  maxQueuedRequests: number;
  numGpus: number;
  /** Deployments this one holds handles to. */
  calls: string[];
  /** The class has a @multiplexed model loader. */
  multiplexed: boolean;
  queued: number;
  replicas: ReplicaStatus[];
  autoscalingDecisions: AutoscalingDecision[];
}

export interface StatusSnapshot {
  applications: AppSpec[];
  deployments: DeploymentStatus[];
  /** The replica thread budget and the autoscaler's recent decisions (all deployments). */
  autoscaling: { maxReplicaThreads: number; decisions: readonly RecordedDecision[] };
}

export function statusSnapshot(app: Application): StatusSnapshot {
  return {
    applications: app.plan.apps,
    deployments: app.allRunners().map((r) => {
      const o = r.spec.options;
      const planned = app.plan.deployments.get(r.name);
      return {
        name: r.name,
        // The count it is scaling to (scale(), a deploy or the autoscaler may have changed it).
        numReplicas: r.target,
        maxOngoingRequests: o.maxOngoingRequests,
        maxQueuedRequests: o.maxQueuedRequests,
        numGpus: o.numGpus,
        calls: planned?.targets ?? [],
        multiplexed: planned?.multiplexed ?? false,
        queued: r.router.queued,
        ...r.router.stats,
        replicas: r.status(),
        autoscalingDecisions: r.autoscalingDecisions.slice(-20),
      };
    }),
    autoscaling: { maxReplicaThreads: app.autoscaler.budget, decisions: app.autoscaler.recent() },
  };
}
