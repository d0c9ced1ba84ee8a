/**
 * The autoscaling bench's application: a fast step (parses and checks the input on the CPU)
 * in front of a slow step that waits 50 ms per call, the way a call waits on an accelerator or
 * a remote model: each replica holds 2 calls at once (maxOngoingRequests), so one replica
 * serves at most 40 calls/s. Both steps autoscale; only the slow one should grow.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deployment } from 'threadserve';
import type { Handle } from 'threadserve';

export class SlowStep {
  async run(values: number[]) {
    await sleep(50);
    return values.reduce((a, b) => a + b, 0);
  }
}

export class FastStep {
  constructor(private readonly slow: Handle<SlowStep>) {}
  async call(body: { values: number[] }) {
    if (!Array.isArray(body.values)) throw new Error('values must be a list');
    return { sum: await this.slow.run(body.values) };
  }
}

const autoscaling = { minReplicas: 1, upscaleDelayS: 3, downscaleDelayS: 10, metricsIntervalS: 0.5, lookBackPeriodS: 2 };
export const Slow = deployment(SlowStep, { name: 'Slow', maxOngoingRequests: 2, autoscalingConfig: { ...autoscaling, maxReplicas: 6 } });
export const Fast = deployment(FastStep, { name: 'Fast', route: '/step', maxOngoingRequests: 64, autoscalingConfig: { ...autoscaling, maxReplicas: 4 } });
export default Fast.bind(Slow.bind());
