/**
 * Redeploying a running deployment (redeploy.ts decides what changed; this applies it to one
 * DeploymentRunner): update() changes the options that apply live, roll() replaces every
 * replica with one running new code. Kept apart from the runner, which keeps its replica count
 * at its target, so that each file holds one concept; the runner lends these operations what
 * they need of its internals (RolloutTarget) instead of making its replica bookkeeping public.
 */
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import type { RunnerSpec } from './deployment-runner.ts';
import type { Replica } from './replica.ts';

/** What a replica runs: the module and class, its constructor arguments, its thread's entry and flags. */
export type ReplicaCode = Pick<RunnerSpec, 'moduleUrl' | 'classKey' | 'args' | 'workerEntry' | 'execArgv'>;

/** The part of a DeploymentRunner an update or a roll works on. */
export interface RolloutTarget {
  readonly spec: RunnerSpec;
  stopping(): boolean;
  /** While set, the runner does not reconcile its count (a roll runs one replica over the target). */
  setRolling(rolling: boolean): void;
  /** Replicas counted toward the target: starting or running, not told to go. */
  live(): Replica[];
  startReplica(gpuIds: number[]): Promise<Replica>;
  /** Stops a replica taking calls, lets it finish them (no time limit), then stops it. */
  retire(replica: Replica): Promise<void>;
  reconcile(): Promise<void>;
  reconfigure(userConfig: unknown): Promise<void>;
  scaleTo(n: number): Promise<void>;
  /** Restarts the health checks (with the new period) if they run. */
  restartHealthChecks(): void;
}

/**
 * Options a redeploy changes live: the count (fixed) or autoscaling settings (the autoscaler
 * reads them each turn), user_config (reconfigure() on every replica), health-check and
 * shutdown timings. The caller has refused changes that need new replicas.
 */
export async function updateOptions(t: RolloutTarget, options: ResolvedDeploymentOptions): Promise<void> {
  const before = t.spec.options;
  t.spec.options = options;
  if (options.healthCheckPeriodS !== before.healthCheckPeriodS) t.restartHealthChecks();
  const work: Promise<void>[] = [];
  if (JSON.stringify(options.userConfig) !== JSON.stringify(before.userConfig)) work.push(t.reconfigure(options.userConfig));
  if (!options.autoscalingConfig) work.push(t.scaleTo(options.numReplicas));
  await Promise.all(work);
}

/**
 * Replaces every replica with one running new code, one at a time: a new replica starts and
 * takes calls before an old one drains (so capacity never drops). If a new replica fails to
 * start, the old code stays and the rest of the old replicas keep serving.
 */
export async function rollCode(t: RolloutTarget, code: ReplicaCode, options: ResolvedDeploymentOptions): Promise<void> {
  const spec = t.spec;
  const before: ReplicaCode = { moduleUrl: spec.moduleUrl, classKey: spec.classKey, args: spec.args, workerEntry: spec.workerEntry, execArgv: spec.execArgv };
  // The spec's code fields may be getters (the application reads compiled modules lazily): replace them with values.
  const setCode = (c: ReplicaCode) => {
    for (const [k, v] of Object.entries(c)) Object.defineProperty(spec, k, { value: v, writable: true, configurable: true, enumerable: true });
  };
  setCode(code);
  t.setRolling(true);
  try {
    for (const old of t.live()) {
      if (t.stopping()) return;
      // Room for the new replica first: its GPU share, or the old one's once it is gone.
      let gpuIds = spec.gpus.take(spec.options.numGpus);
      if (gpuIds === undefined) {
        await t.retire(old);
        gpuIds = spec.gpus.take(spec.options.numGpus) ?? [];
        await t.startReplica(gpuIds);
        continue;
      }
      await t.startReplica(gpuIds);
      await t.retire(old);
    }
  } catch (err) {
    setCode(before);
    t.setRolling(false);
    void t.reconcile();
    throw err;
  }
  t.setRolling(false);
  await updateOptions(t, options);
}
