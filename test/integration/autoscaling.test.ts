// Autoscaling with real threads: a slow deployment under load grows, then shrinks once the load stops.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from 'threadserve';
import { FrontD, WorkD } from '../fixtures/scaling.ts';
import type { Front } from '../fixtures/scaling.ts';

type Status = {
  deployments: Array<{ name: string; numReplicas: number; replicas: Array<{ state: string }> }>;
  autoscaling: { maxReplicaThreads: number; decisions: Array<{ deployment: string; from: number; to: number; reason: string }> };
};

const AutoWork = WorkD.options({
  numReplicas: 'auto',
  maxOngoingRequests: 2,
  // Short delays so the test runs in seconds (Ray Serve's defaults are 30 s and 600 s).
  autoscalingConfig: { maxReplicas: 4, targetOngoingRequests: 1, upscaleDelayS: 0.3, downscaleDelayS: 1, metricsIntervalS: 0.1, lookBackPeriodS: 0.5 },
});

describe('autoscaling', () => {
  it('scales a slow deployment up under load and back down after it, failing no call', async () => {
    const s = await serve.run(FrontD.bind(AutoWork.bind()), { listen: false, logLevel: 'silent', maxReplicaThreads: 6 });
    const status = async () => (await s.http.inject({ method: 'GET', url: '/-/status' })).json() as Status;
    const running = async (name: string) => (await status()).deployments.find((d) => d.name === name)!.replicas.filter((r) => r.state === 'running').length;
    try {
      assert.equal(await running('Work'), 1);
      const front = s.handle<Front>('Front');
      let loading = true;
      let failures = 0;
      let answers = 0;
      // Eight callers in a loop: 8 ongoing calls against a target of 1 per replica.
      const callers = Array.from({ length: 8 }, async () => {
        while (loading) {
          await front.run(50).then(
            () => answers++,
            () => failures++,
          );
        }
      });
      const deadline = Date.now() + 20000;
      let peak = 1;
      while (peak < 4 && Date.now() < deadline) {
        await sleep(50);
        peak = Math.max(peak, await running('Work'));
      }
      loading = false;
      await Promise.all(callers);
      assert.equal(peak, 4, 'Work grew to maxReplicas under load');
      assert.equal(await running('Front'), 1, 'the fixed deployment kept its count');

      while ((await running('Work')) > 1 || (await status()).deployments.find((d) => d.name === 'Work')!.replicas.length > 1) {
        if (Date.now() > deadline + 20000) throw new Error('Work did not scale back down');
        await sleep(100);
      }
      assert.equal(failures, 0);
      assert.ok(answers > 0);
      const { autoscaling } = await status();
      assert.equal(autoscaling.maxReplicaThreads, 6);
      const reasons = autoscaling.decisions.filter((d) => d.deployment === 'Work').map((d) => d.reason);
      assert.ok(reasons.includes('upscale') && reasons.includes('downscale'), `decisions: ${reasons.join(', ')}`);
      const metrics = (await s.http.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /threadserve_autoscaling_decisions_total\{deployment="Work",reason="upscale"\} [1-9]/);
      assert.match(metrics, /threadserve_autoscaling_decisions_total\{deployment="Work",reason="downscale"\} [1-9]/);
      assert.match(metrics, /threadserve_replicas_desired\{deployment="Work"\} 1/);
    } finally {
      await s.close();
    }
  });

  it('refuses a thread budget smaller than the replicas the deployments start with', async () => {
    await assert.rejects(
      serve.run(FrontD.bind(WorkD.options({ numReplicas: 3 }).bind()), { listen: false, logLevel: 'silent', maxReplicaThreads: 2 }),
      /serve: maxReplicaThreads 2 is less than the 4 replicas the deployments start with/,
    );
  });
});
