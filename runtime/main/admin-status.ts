/**
 * What `threadserve status` shows, as data (the admin API's GET /api/status): applications, deployments with their counts and
 * autoscaling settings, replicas (state, device, calls in flight), calls queued, loaded
 * multiplexed models, and the autoscaler's recent decisions. Served by the admin API.
 */
import type { ResolvedAutoscalingConfig } from '../shared/autoscaling-options.ts';
import type { RecordedDecision } from './autoscaler.ts';
import type { Application } from './application.ts';

export interface AdminStatus {
  applications: Array<{ name: string; route: string | null; ingress: string; deployments: string[] }>;
  deployments: Array<{
    name: string;
    /** Replicas the deployment is scaling to, and running now. */
    target: number;
    running: number;
    queued: number;
    inFlight: number;
    waitingForGpu: number;
    maxOngoingRequests: number;
    autoscaling: ResolvedAutoscalingConfig | null;
    replicas: Array<{ id: string; state: string; device: string; inFlight: number }>;
    models: string[];
  }>;
  autoscaling: { maxReplicaThreads: number; decisions: readonly RecordedDecision[] };
}

/** The deployments an application reaches from its ingress. */
function reach(app: Application, ingress: string): string[] {
  const out: string[] = [];
  const visit = (name: string) => {
    if (out.includes(name)) return;
    out.push(name);
    for (const t of app.plan.deployments.get(name)?.targets ?? []) visit(t);
  };
  visit(ingress);
  return out;
}

export function adminStatus(app: Application): AdminStatus {
  return {
    applications: app.plan.apps.map((a) => ({ name: a.name, route: a.route, ingress: a.ingress, deployments: reach(app, a.ingress) })),
    deployments: app.allRunners().map((r) => {
      const o = r.spec.options;
      return {
        name: r.name,
        target: r.target,
        running: r.running,
        queued: r.router.queued,
        inFlight: r.router.inFlight,
        waitingForGpu: r.waitingForGpu,
        maxOngoingRequests: o.maxOngoingRequests,
        autoscaling: o.autoscalingConfig ?? null,
        replicas: r.status().map((rep) => ({
          id: rep.id,
          state: rep.state,
          device: rep.gpuIds.length ? `gpu ${rep.gpuIds.join(',')}${o.numGpus < 1 ? ` (${o.numGpus})` : ''}` : 'cpu',
          inFlight: rep.inFlight,
        })),
        models: r.loadedModels(),
      };
    }),
    autoscaling: { maxReplicaThreads: app.autoscaler.budget, decisions: app.autoscaler.recent() },
  };
}
