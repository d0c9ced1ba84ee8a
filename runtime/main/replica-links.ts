/**
 * Sets up and tears down the direct links between replicas: one MessageChannel between each
 * replica that holds a handle to a deployment and each running replica of that deployment.
 * The main thread stays out of the data path; it only follows the topology:
 *  - a replica starts running: it gets links to every running replica of its targets, and
 *    every live replica that calls its deployment gets a link to it;
 *  - a replica stops taking calls (drain, health-check replacement, death): its callers stop
 *    choosing it (`unlink`); calls already on their way finish there;
 *  - a replica is gone with calls still in flight (it died, or was cut at the drain timeout):
 *    its callers fail those calls with REPLICA_DIED (`unlink` with `died`).
 * Which deployments call which comes from the application graph: the handles bound into
 * each deployment's constructor arguments.
 */
import { MessageChannel } from 'node:worker_threads';
import type { Replica } from './replica.ts';

export class ReplicaLinks {
  private readonly callersOf = new Map<string, string[]>();
  /** Replicas that take calls, per deployment: new links go to these. */
  private readonly accepting = new Map<string, Set<Replica>>();
  /** Replicas whose thread is alive (running or draining), per deployment: they hear of every change. */
  private readonly alive = new Map<string, Set<Replica>>();

  /** `targetsOf`: for each deployment, the deployments it holds handles to. */
  constructor(private readonly targetsOf: ReadonlyMap<string, readonly string[]>) {
    for (const [caller, targets] of targetsOf) {
      for (const t of targets) this.callersOf.set(t, [...(this.callersOf.get(t) ?? []), caller]);
    }
  }

  /** A replica is running: link it to its targets' replicas, and its callers to it. */
  up(deployment: string, replica: Replica): void {
    for (const target of this.targetsOf.get(deployment) ?? []) {
      for (const callee of this.set(this.accepting, target)) this.connect(replica, target, callee);
    }
    for (const caller of this.callersOf.get(deployment) ?? []) {
      for (const p of this.set(this.alive, caller)) if (p.state === 'running') this.connect(p, deployment, replica);
    }
    this.set(this.accepting, deployment).add(replica);
    this.set(this.alive, deployment).add(replica);
  }

  /** A replica takes no more calls: its callers stop choosing it. */
  down(deployment: string, replica: Replica): void {
    if (!this.set(this.accepting, deployment).delete(replica)) return;
    this.tellCallers(deployment, replica, undefined);
  }

  /** A replica's thread is gone; if calls were cut (`replica.failure`), its callers fail them. */
  gone(deployment: string, replica: Replica): void {
    this.down(deployment, replica);
    if (!this.set(this.alive, deployment).delete(replica)) return;
    if (replica.failure !== undefined) this.tellCallers(deployment, replica, replica.failure);
  }

  private tellCallers(deployment: string, replica: Replica, died: string | undefined): void {
    const { slot, gen } = replica.spec.slot;
    for (const caller of this.callersOf.get(deployment) ?? []) {
      for (const p of this.set(this.alive, caller)) {
        p.post(died === undefined ? { k: 'unlink', d: deployment, s: slot, g: gen } : { k: 'unlink', d: deployment, s: slot, g: gen, died });
      }
    }
  }

  private connect(caller: Replica, target: string, callee: Replica): void {
    const { port1, port2 } = new MessageChannel();
    const { slot, gen } = callee.spec.slot;
    callee.post({ k: 'linkIn', port: port2 }, port2);
    caller.post({ k: 'link', d: target, r: callee.id, s: slot, g: gen, port: port1 }, port1);
  }

  private set(map: Map<string, Set<Replica>>, deployment: string): Set<Replica> {
    let s = map.get(deployment);
    if (!s) map.set(deployment, (s = new Set()));
    return s;
  }
}
