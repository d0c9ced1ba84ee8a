/**
 * The piscina task a replica is. It builds the user's instance, serves calls over its own
 * MessagePort, and returns only when the replica has drained: so piscina sees one long task
 * per thread, a thread that dies fails that task (which is how the main thread learns of it),
 * and no thread is ever stopped with a call running in it.
 */
import type { StartMessage } from '../shared/protocol.ts';
import { ReplicaHost } from './replica-host.ts';

export default async function runReplica(start: StartMessage): Promise<void> {
  const host = new ReplicaHost(start);
  await host.start();
  await host.stopped;
}
