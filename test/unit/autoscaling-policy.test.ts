// The autoscaling decision as a pure function: loads and a time in, counts out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, desiredReplicas } from '../../runtime/main/autoscaling-policy.ts';
import type { DeploymentLoad, ScalingMemory } from '../../runtime/main/autoscaling-policy.ts';
import { autoscalingConfigSchema } from '../../runtime/shared/autoscaling-options.ts';
import type { AutoscalingConfig } from '../../runtime/shared/autoscaling-options.ts';

const config = (c: AutoscalingConfig = {}) => autoscalingConfigSchema.parse({ minReplicas: 1, maxReplicas: 10, ...c });
const S = 1000;

/** Runs the policy for one autoscaled deployment, feeding `ongoing(t)` every second; the running count follows the target at once. */
function simulate(c: ReturnType<typeof config>, start: number, seconds: number, ongoing: (tS: number) => number) {
  let memory: ScalingMemory = {};
  let target = start;
  const history: number[] = [];
  const decisions = [];
  for (let t = 0; t <= seconds; t++) {
    const load: DeploymentLoad = { name: 'M', config: c, target, running: target, ongoing: ongoing(t) };
    const out = decide([load], memory, t * S, 100);
    memory = out.memory;
    target = out.targets.M!;
    decisions.push(...out.decisions);
    history.push(target);
  }
  return { history, decisions };
}

describe("Ray Serve's desired count", () => {
  it('aims at targetOngoingRequests per running replica, within the bounds', () => {
    const c = config({ targetOngoingRequests: 2 });
    assert.equal(desiredReplicas(c, 1, 1, 6), 3);
    assert.equal(desiredReplicas(c, 3, 3, 6), 3);
    assert.equal(desiredReplicas(c, 4, 4, 2), 1);
    assert.equal(desiredReplicas(c, 1, 1, 1000), 10);
    assert.equal(desiredReplicas(c, 3, 3, 0), 1);
    assert.equal(desiredReplicas(config({ upscalingFactor: 0.5 }), 2, 2, 12), 4);
    // From zero replicas: as many as the waiting calls need.
    assert.equal(desiredReplicas(config({ minReplicas: 0 }), 0, 0, 5), 3);
  });
});

describe('autoscaling decisions', () => {
  it('scales up only after upscaleDelayS of wanting to', () => {
    const { history, decisions } = simulate(config({ upscaleDelayS: 30 }), 1, 40, () => 6);
    assert.equal(history[29], 1);
    assert.equal(history[30], 3);
    assert.deepEqual(
      decisions.map((d) => [d.from, d.to, d.reason, d.at]),
      [[1, 3, 'upscale', 30 * S]],
    );
  });

  it('scales down only after downscaleDelayS of wanting to', () => {
    const { history, decisions } = simulate(config({ downscaleDelayS: 600 }), 3, 700, () => 0.5);
    assert.equal(history[599], 3);
    assert.equal(history[600], 1);
    assert.deepEqual(
      decisions.map((d) => [d.from, d.to, d.reason]),
      [[3, 1, 'downscale']],
    );
  });

  it('starts the delay again when the wish breaks off', () => {
    const { history } = simulate(config({ upscaleDelayS: 30 }), 1, 80, (t) => (t >= 20 && t < 25 ? 2 : 6));
    assert.equal(history[49], 1); // wanted from 0 to 20, then from 25: 30 s after 25 is 55
    assert.equal(history[54], 1);
    assert.equal(history[55], 3);
  });

  it('holds minReplicas and maxReplicas, and follows new bounds at once', () => {
    const high = simulate(config({ maxReplicas: 4, upscaleDelayS: 0 }), 1, 10, () => 1000);
    assert.equal(Math.max(...high.history), 4);
    const low = simulate(config({ minReplicas: 2, downscaleDelayS: 0 }), 5, 10, () => 0);
    assert.equal(Math.min(...low.history), 2);
    const out = decide([{ name: 'M', config: config({ minReplicas: 4, maxReplicas: 6 }), target: 2, running: 2, ongoing: 0 }], {}, 0, 100);
    assert.equal(out.targets.M, 4);
    assert.equal(out.decisions[0]!.reason, 'bounds');
  });

  it('does not oscillate under a steady load', () => {
    const { history, decisions } = simulate(config({ upscaleDelayS: 5, downscaleDelayS: 10 }), 1, 3000, () => 3);
    assert.deepEqual(
      decisions.map((d) => [d.from, d.to]),
      [[1, 2]],
    );
    assert.ok(history.slice(10).every((n) => n === 2));
  });

  it('follows a step up and a step down', () => {
    const load = (t: number) => (t < 100 ? 1 : t < 300 ? 10 : 1);
    const { history, decisions } = simulate(config({ upscaleDelayS: 30, downscaleDelayS: 60 }), 1, 500, load);
    assert.equal(history[99], 1);
    assert.equal(history[129], 1);
    assert.equal(history[130], 5);
    assert.equal(history[359], 5);
    assert.equal(history[360], 1);
    assert.deepEqual(
      decisions.map((d) => [d.from, d.to, d.reason]),
      [
        [1, 5, 'upscale'],
        [5, 1, 'downscale'],
      ],
    );
  });

  it('starts a replica at once for calls waiting on a deployment at zero', () => {
    const out = decide([{ name: 'M', config: config({ minReplicas: 0, upscaleDelayS: 30 }), target: 0, running: 0, ongoing: 1 }], {}, 0, 100);
    assert.equal(out.targets.M, 1);
  });
});

describe('pipelines', () => {
  const c = config({ upscaleDelayS: 0, downscaleDelayS: 0, maxReplicas: 6 });
  it('grows the saturated step a caller waits on, not the caller', () => {
    const loads: DeploymentLoad[] = [
      { name: 'Fast', config: c, target: 1, running: 1, ongoing: 64, calls: ['Slow'] },
      { name: 'Slow', config: c, target: 1, running: 1, ongoing: 60 },
    ];
    const out = decide(loads, {}, 0, 4);
    assert.deepEqual(out.targets, { Fast: 1, Slow: 3 });
    assert.deepEqual(
      out.decisions.map((d) => [d.deployment, d.to, d.reason]),
      [
        ['Fast', 1, 'downstream'],
        ['Slow', 3, 'budget'],
      ],
    );
    // Told once; once the step it calls keeps up, the caller may grow.
    const again = decide(
      loads.map((l) => ({ ...l, target: out.targets[l.name]!, running: out.targets[l.name]! })),
      out.memory,
      S,
      4,
    );
    assert.equal(again.decisions.filter((d) => d.reason === 'downstream').length, 0);
    const eased = decide(
      [
        { ...loads[0]!, ongoing: 64 },
        { ...loads[1]!, target: 3, running: 3, ongoing: 5 },
      ],
      out.memory,
      2 * S,
      10,
    );
    assert.equal(eased.targets.Fast, 6);
  });

  it("counts the caller's upscale delay from when the step it calls keeps up, not through a burst", () => {
    // The autoscale bench's shape: a burst saturates Slow for 30 s; once Slow has caught up, the
    // caller's look-back still averages the calls that were waiting downstream for a moment.
    const c3 = config({ upscaleDelayS: 3, downscaleDelayS: 10, maxReplicas: 6 });
    let memory: ScalingMemory = {};
    const targets: Record<string, number> = { Fast: 1, Slow: 6 };
    const fastTargets: number[] = [];
    const reasons: string[] = [];
    for (let t = 0; t <= 40; t += 0.5) {
      const burst = t < 30;
      const loads: DeploymentLoad[] = [
        // Most of Fast's calls wait on Slow, some queue in Fast itself behind them; 2 s after
        // the burst Fast's look-back still averages 3 calls of its own (9 less Slow's 6).
        { name: 'Fast', config: c3, target: targets.Fast!, running: targets.Fast!, ongoing: burst ? 50 : t < 32 ? 9 : 0.5, calls: ['Slow'] },
        { name: 'Slow', config: c3, target: targets.Slow!, running: targets.Slow!, ongoing: burst ? 40 : t < 32 ? 6 : 0.5 },
      ];
      const out = decide(loads, memory, t * S, 8);
      memory = out.memory;
      Object.assign(targets, out.targets);
      fastTargets.push(targets.Fast!);
      reasons.push(...out.decisions.filter((d) => d.deployment === 'Fast').map((d) => d.reason));
    }
    assert.ok(
      fastTargets.every((n) => n === 1),
      `Fast stayed at 1: ${fastTargets.join(',')}`,
    );
    // Told once that it was held for the step it calls.
    assert.deepEqual(reasons, ['downstream']);
  });

  it('lets a caller grow once it stays busy for its delay after the step it calls keeps up', () => {
    const c3 = config({ upscaleDelayS: 3, maxReplicas: 6 });
    const fast = (ongoing: number, target: number): DeploymentLoad => ({ name: 'Fast', config: c3, target, running: target, ongoing, calls: ['Slow'] });
    const slow = (ongoing: number): DeploymentLoad => ({ name: 'Slow', config: c3, target: 6, running: 6, ongoing });
    let memory: ScalingMemory = {};
    for (let t = 0; t < 10; t++) memory = decide([fast(50, 1), slow(40)], memory, t * S, 20).memory;
    // Slow keeps up from t = 10; Fast's own calls stay at 9 (12 less Slow's 3): it grows 3 s later, not at once.
    assert.equal(decide([fast(12, 1), slow(3)], memory, 10 * S, 20).targets.Fast, 1);
    memory = decide([fast(12, 1), slow(3)], memory, 10 * S, 20).memory;
    assert.equal(decide([fast(12, 1), slow(3)], memory, 12 * S, 20).targets.Fast, 1);
    assert.equal(decide([fast(12, 1), slow(3)], memory, 13 * S, 20).targets.Fast, 5);
  });

  it("does not grow a caller for calls that wait on a step keeping up (the bench's high phase)", () => {
    // 120 calls/s, ~55 ms each: Fast holds ~6.6 calls, 6 of them running in Slow's 6 replicas.
    const c3 = config({ upscaleDelayS: 3, maxReplicas: 6 });
    let memory: ScalingMemory = {};
    let fastTarget = 1;
    for (let t = 0; t <= 60; t++) {
      const out = decide(
        [
          { name: 'Fast', config: c3, target: fastTarget, running: fastTarget, ongoing: 6.6, calls: ['Slow'] },
          { name: 'Slow', config: c3, target: 6, running: 6, ongoing: 6 },
        ],
        memory,
        t * S,
        8,
      );
      memory = out.memory;
      fastTarget = out.targets.Fast!;
      assert.equal(fastTarget, 1, `t = ${t} s`);
    }
  });

  it("shares a callee's calls among its callers by their counts, and still grows a caller busy on its own", () => {
    const c0 = config({ upscaleDelayS: 0, maxReplicas: 6 });
    const out = decide(
      [
        // B and C call Slow and hold 12 and 4 calls: Slow's 8 are 6 of B's and 2 of C's.
        { name: 'B', config: c0, target: 1, running: 1, ongoing: 12, calls: ['Slow'] },
        { name: 'C', config: c0, target: 1, running: 1, ongoing: 4, calls: ['Slow'] },
        { name: 'Slow', config: c0, target: 4, running: 4, ongoing: 8 },
      ],
      {},
      0,
      20,
    );
    // B: 6 of its own -> 3 replicas; C: 2 -> stays at 1; Slow: 2 per replica, as it aims.
    assert.deepEqual(out.targets, { B: 3, C: 1, Slow: 4 });
    assert.deepEqual(
      out.decisions.map((d) => [d.deployment, d.to, d.ongoing]),
      [['B', 3, 6]],
    );
  });

  it('holds a caller back on a full fixed deployment too', () => {
    const out = decide(
      [
        { name: 'Front', config: c, target: 1, running: 1, ongoing: 30, calls: ['Model'] },
        { name: 'Model', config: undefined, target: 2, running: 2, ongoing: 9, maxOngoing: 4 },
      ],
      {},
      0,
      10,
    );
    assert.equal(out.targets.Front, 1);
  });
});

describe('the process-wide budget', () => {
  const c = config({ upscaleDelayS: 0, downscaleDelayS: 0, maxReplicas: 8 });

  it('gives growth to the most queued work per replica first, and tells once that it held one back', () => {
    const loads: DeploymentLoad[] = [
      { name: 'Fixed', config: undefined, target: 1, running: 1, ongoing: 50 },
      { name: 'Busy', config: c, target: 1, running: 1, ongoing: 20 },
      { name: 'Less', config: c, target: 1, running: 1, ongoing: 6 },
    ];
    const out = decide(loads, {}, 0, 5);
    // 5 - 1 fixed - 1 - 1 = 2 to give: Busy (20 per replica, then 10) takes both before Less (6).
    assert.deepEqual(out.targets, { Busy: 3, Less: 1 });
    assert.deepEqual(
      out.decisions.map((d) => [d.deployment, d.from, d.to, d.wanted, d.reason]),
      [
        ['Busy', 1, 3, 8, 'budget'],
        ['Less', 1, 1, 3, 'budget'],
      ],
    );
    const again = decide(
      loads.map((l) => ({ ...l, target: out.targets[l.name] ?? l.target })),
      out.memory,
      S,
      5,
    );
    assert.deepEqual(again.decisions, []);
  });

  it('shrinks idle deployments first to make room', () => {
    const out = decide(
      [
        // Idle, and its own downscale delay has not passed: only the budget makes it shrink now.
        { name: 'Idle', config: config({ downscaleDelayS: 600 }), target: 3, running: 3, ongoing: 0 },
        { name: 'Busy', config: config({ upscaleDelayS: 0, downscaleDelayS: 600 }), target: 1, running: 1, ongoing: 6 },
      ],
      {},
      0,
      4,
    );
    assert.deepEqual(out.targets, { Idle: 1, Busy: 3 });
    assert.deepEqual(
      out.decisions.map((d) => [d.deployment, d.to, d.reason]),
      [
        ['Idle', 1, 'yield'],
        ['Busy', 3, 'upscale'],
      ],
    );
  });

  it('never takes a deployment below its minimum, nor from a busy one', () => {
    const out = decide(
      [
        { name: 'Working', config: config({ minReplicas: 2, downscaleDelayS: 600 }), target: 3, running: 3, ongoing: 5 },
        { name: 'Busy', config: c, target: 1, running: 1, ongoing: 10 },
      ],
      {},
      0,
      4,
    );
    assert.deepEqual(out.targets, { Working: 3, Busy: 1 });
  });
});
