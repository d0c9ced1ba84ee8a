/**
 * The autoscaling decision: a pure function of the load each deployment saw, the counts it
 * runs, what was decided before (`ScalingMemory`) and the time. No timers and no threads here:
 * the controller (autoscaler.ts) feeds it and applies its answer; tests feed it by hand.
 *
 * Per deployment it follows Ray Serve: with `ongoing` the mean of (running + queued) calls over
 * the look-back period, less the calls waiting on the steps it calls (ownOngoing: Ray Serve
 * counts those, which grows a step that only waits), and `running` the replicas serving,
 *   ratio   = ongoing / (targetOngoingRequests * running)
 *   desired = ceil(running * (1 + (ratio - 1) * factor)), factor = upscalingFactor if ratio > 1
 *             else downscalingFactor, held within [minReplicas, maxReplicas].
 * A change happens only once the desire has pointed the same way for upscaleDelayS (up) or
 * downscaleDelayS (down) without a break; a deployment at zero replicas with calls waiting
 * starts one at once (nothing else would ever serve them).
 *
 * Then the process-wide budget of replica threads: fixed deployments and every autoscaled
 * deployment's minimum come first; replicas for growth go one at a time to the deployment with
 * the most ongoing calls per replica; when the budget is spent and a deployment still wants
 * more, deployments that were idle over the whole look-back (no call at all) above their minimum
 * give a replica up, the largest first.
 *
 * A step whose calls wait on a saturated step it calls (more ongoing calls there than its
 * target, or than a fixed deployment's replicas hold) does not grow: its ongoing calls are
 * mostly waiting downstream, and more replicas would only wait too. The bottleneck grows alone.
 * Its upscale delay starts again once the step it calls keeps up.
 */
import type { ResolvedAutoscalingConfig } from '../shared/autoscaling-options.ts';

export interface DeploymentLoad {
  readonly name: string;
  /** undefined: a fixed replica count (it counts toward the budget and never changes here). */
  readonly config: ResolvedAutoscalingConfig | undefined;
  /** The count the deployment is scaling to now (the last decision). */
  readonly target: number;
  /** Replicas running now (fewer than `target` while replicas start or wait for GPU room). */
  readonly running: number;
  /** Mean ongoing calls (running + queued) over the look-back period; undefined: no sample yet. */
  readonly ongoing: number | undefined;
  /** The deployments this one calls (holds handles to). */
  readonly calls?: readonly string[];
  /** Its maxOngoingRequests (a fixed deployment is saturated when every replica is full). */
  readonly maxOngoing?: number;
}

export type DecisionReason = 'upscale' | 'downscale' | 'bounds' | 'budget' | 'yield' | 'downstream';

export interface Decision {
  readonly deployment: string;
  readonly from: number;
  readonly to: number;
  readonly reason: DecisionReason;
  /** The load that led to it. */
  readonly ongoing: number;
  /** What the deployment's own policy wanted (differs from `to` when the budget held it back). */
  readonly wanted: number;
  /** Milliseconds on the policy's clock. */
  readonly at: number;
}

/** Since when each deployment has wanted to grow or shrink (the delays count from there). */
export type ScalingMemory = Readonly<
  Record<string, { readonly upSince?: number; readonly downSince?: number; readonly blocked?: boolean; readonly downstream?: boolean }>
>;

export interface ScalingOutcome {
  /** The new count of every autoscaled deployment. */
  readonly targets: Record<string, number>;
  readonly memory: ScalingMemory;
  /** Changes made, and the first time a deployment is held back by the budget. */
  readonly decisions: Decision[];
}

/** Ray Serve's desired count for one deployment, ignoring delays. */
export function desiredReplicas(c: ResolvedAutoscalingConfig, target: number, running: number, ongoing: number): number {
  let desired: number;
  if (running === 0) {
    // Nothing serves yet: starting replicas will; from zero, one is needed as soon as calls wait.
    desired = target > 0 ? target : ongoing > 0 ? Math.ceil(ongoing / c.targetOngoingRequests) : 0;
  } else {
    const ratio = ongoing / (c.targetOngoingRequests * running);
    const factor = ratio > 1 ? c.upscalingFactor : c.downscalingFactor;
    desired = Math.ceil(running * (1 + (ratio - 1) * factor) - 1e-9);
    // A factor below 1 would round an idle deployment back to where it is: step down by one.
    if (ratio === 0 && desired === running && factor < 1) desired--;
  }
  return Math.min(c.maxReplicas, Math.max(c.minReplicas, desired));
}

interface Want {
  /** The deployment's load, its `ongoing` being its own (ownOngoing). */
  load: DeploymentLoad;
  /** All its ongoing calls, those waiting downstream included (idle means none at all). */
  allOngoing: number | undefined;
  config: ResolvedAutoscalingConfig;
  wanted: number;
  reason: DecisionReason;
  memory: { upSince?: number; downSince?: number; blocked?: boolean; downstream?: boolean };
  /** Growth it wanted, held because a step it calls is saturated. */
  downstream?: number;
  /** Its own policy's count before the delays (undefined: no load sample yet, or new bounds). */
  desired?: number;
}

/** More ongoing calls than the deployment aims for (autoscaled) or can run (fixed). */
function saturated(l: DeploymentLoad): boolean {
  if (l.ongoing === undefined || l.running === 0) return l.ongoing !== undefined && l.ongoing > 0;
  const perReplica = l.config ? l.config.targetOngoingRequests : (l.maxOngoing ?? Number.POSITIVE_INFINITY);
  return l.ongoing > perReplica * l.running;
}

/**
 * Each deployment's own ongoing calls: its ongoing calls less those waiting on the steps it
 * calls. A caller's call that waits on a callee is a call in the callee too (running or queued
 * there), so the callee's ongoing calls are taken off its callers', shared among them in
 * proportion to their own counts (exact with one caller that makes one call at a time; a call
 * that fans out to several at once takes off more than itself, hence the floor at 0). Calls
 * the main thread makes (HTTP to a callee) are counted as its callers' too: they can only make
 * a caller look less busy, never busier.
 */
function ownOngoing(loads: readonly DeploymentLoad[]): Map<string, number | undefined> {
  const byName = new Map(loads.map((l) => [l.name, l]));
  const callerTotal = new Map<string, number>();
  for (const l of loads) for (const c of new Set(l.calls ?? [])) callerTotal.set(c, (callerTotal.get(c) ?? 0) + (l.ongoing ?? 0));
  const own = new Map<string, number | undefined>();
  for (const l of loads) {
    if (l.ongoing === undefined) {
      own.set(l.name, undefined);
      continue;
    }
    let waiting = 0;
    for (const c of new Set(l.calls ?? [])) {
      const callee = byName.get(c)?.ongoing;
      const total = callerTotal.get(c)!;
      if (callee !== undefined && total > 0) waiting += (callee * l.ongoing) / total;
    }
    own.set(l.name, Math.max(0, l.ongoing - waiting));
  }
  return own;
}

/** One deployment's wish after its delays. */
function wish(load: DeploymentLoad, config: ResolvedAutoscalingConfig, before: ScalingMemory[string], now: number): Want {
  const memory = { ...before };
  const { target } = load;
  const ongoing = load.ongoing ?? 0;
  if (target < config.minReplicas || target > config.maxReplicas) {
    // The bounds changed under a running deployment (a redeploy): follow them at once.
    return { load, allOngoing: load.ongoing, config, wanted: Math.min(config.maxReplicas, Math.max(config.minReplicas, target)), reason: 'bounds', memory: {} };
  }
  if (load.ongoing === undefined) return { load, allOngoing: undefined, config, wanted: target, reason: 'upscale', memory };
  const desired = desiredReplicas(config, target, load.running, ongoing);
  if (desired > target) {
    delete memory.downSince;
    memory.upSince ??= now;
    const coldStart = target === 0;
    if (coldStart || now - memory.upSince >= config.upscaleDelayS * 1000)
      return { load, allOngoing: load.ongoing, config, wanted: desired, reason: 'upscale', memory, desired };
  } else if (desired < target) {
    delete memory.upSince;
    memory.downSince ??= now;
    if (now - memory.downSince >= config.downscaleDelayS * 1000)
      return { load, allOngoing: load.ongoing, config, wanted: desired, reason: 'downscale', memory, desired };
  } else {
    delete memory.upSince;
    delete memory.downSince;
  }
  return { load, allOngoing: load.ongoing, config, wanted: target, reason: 'upscale', memory, desired };
}

export function decide(loads: readonly DeploymentLoad[], before: ScalingMemory, now: number, budget: number): ScalingOutcome {
  const wants: Want[] = [];
  let free = budget;
  const saturatedNames = new Set(loads.filter(saturated).map((l) => l.name));
  const own = ownOngoing(loads);
  for (const load of loads) {
    if (load.config === undefined) {
      free -= load.target;
      continue;
    }
    const w = wish({ ...load, ongoing: own.get(load.name) }, load.config, before[load.name] ?? {}, now);
    w.allOngoing = load.ongoing;
    if ((w.desired ?? 0) > load.target && (load.calls ?? []).some((c) => saturatedNames.has(c))) {
      w.downstream = Math.max(w.wanted, w.desired!);
      w.wanted = load.target;
      // Its delay counts from when the step it calls keeps up again: time spent waiting on that
      // step says nothing about this one's own load. Counted through, the delay let the caller
      // grow the moment the step it calls caught up (as a burst ended), while its look-back
      // still averaged calls that had been waiting downstream (the autoscale bench's Fast 1 -> 2).
      delete w.memory.upSince;
    }
    wants.push(w);
  }
  // Everyone keeps what it has or less (shrinking never waits for the budget), and its minimum.
  const granted = new Map<Want, number>();
  for (const w of wants) {
    const keep = Math.max(w.config.minReplicas, Math.min(w.wanted, w.load.target));
    granted.set(w, keep);
    free -= keep;
  }
  const perReplica = (w: Want) => (w.load.ongoing ?? 0) / Math.max(1, granted.get(w)!);
  const hungry = () =>
    wants.filter((w) => granted.get(w)! < w.wanted).sort((a, b) => perReplica(b) - perReplica(a) || a.load.name.localeCompare(b.load.name))[0];
  const idleDonor = (taker: Want) =>
    wants
      .filter((w) => w !== taker && w.allOngoing === 0 && granted.get(w)! > w.config.minReplicas && granted.get(w)! <= w.load.target)
      .sort((a, b) => granted.get(b)! - granted.get(a)! || a.load.name.localeCompare(b.load.name))[0];
  const yielded = new Set<Want>();
  for (let w = hungry(); w; w = hungry()) {
    if (free <= 0) {
      const donor = idleDonor(w);
      if (!donor) break;
      granted.set(donor, granted.get(donor)! - 1);
      yielded.add(donor);
      free++;
    }
    granted.set(w, granted.get(w)! + 1);
    free--;
  }

  const targets: Record<string, number> = {};
  const memory: Record<string, Want['memory']> = {};
  const decisions: Decision[] = [];
  for (const w of wants) {
    const to = granted.get(w)!;
    const { name, target } = w.load;
    targets[name] = to;
    const held = to < w.wanted;
    const m = { ...w.memory };
    // Fully granted: the next change waits its delay again. Held back: keep waiting for room.
    if (!held && to > target) delete m.upSince;
    if (to < target) delete m.downSince;
    const reason: DecisionReason = yielded.has(w) ? 'yield' : held ? 'budget' : to < target && w.reason !== 'bounds' ? 'downscale' : w.reason;
    if (to !== target || (held && !before[name]?.blocked)) {
      decisions.push({ deployment: name, from: target, to, reason, ongoing: w.load.ongoing ?? 0, wanted: w.wanted, at: now });
    }
    if (held) m.blocked = true;
    else delete m.blocked;
    if (w.downstream !== undefined && to === target) {
      if (!before[name]?.downstream) {
        decisions.push({ deployment: name, from: target, to, reason: 'downstream', ongoing: w.load.ongoing ?? 0, wanted: w.downstream, at: now });
      }
      m.downstream = true;
    } else delete m.downstream;
    memory[name] = m;
  }
  return { targets, memory, decisions };
}
