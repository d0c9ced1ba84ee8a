/**
 * What user code inside a replica can learn about where it runs. Set by the replica host
 * before the user's constructor runs; `replicaContext()` outside a replica throws.
 */
export interface ReplicaContext {
  readonly deployment: string;
  readonly replicaId: string;
  readonly replicaIndex: number;
  /** GPU device ids assigned to this replica by `numGpus` (empty when it asked for none). */
  readonly gpuIds: readonly number[];
  /** The first assigned device, to hand to an execution provider (`{ name: 'cuda', deviceId }`). */
  readonly deviceId: number | undefined;
  /** Replicas of all deployments in this process: divide the machine's cores by it. */
  readonly replicasInProcess: number;
}

const CONTEXT = Symbol.for('threadserve.replicaContext');

export function setReplicaContext(ctx: ReplicaContext): void {
  (globalThis as Record<symbol, unknown>)[CONTEXT] = Object.freeze({ ...ctx });
}

export function replicaContext(): ReplicaContext {
  const ctx = (globalThis as Record<symbol, unknown>)[CONTEXT] as ReplicaContext | undefined;
  if (!ctx) throw new Error('replicaContext() is only available inside a replica');
  return ctx;
}
