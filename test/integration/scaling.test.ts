// Live replica-count changes with real threads: scale up, and a scale-down that drains.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OptionsError, serve } from 'threadserve';
import { FrontD, HalfGpuWork, WorkD } from '../fixtures/scaling.ts';
import type { Front, Work } from '../fixtures/scaling.ts';

type StatusBody = { deployments: Array<{ name: string; numReplicas: number; replicas: Array<{ id: string; state: string }> }> };

async function replicasOf(s: Awaited<ReturnType<typeof serve.run>>, name: string) {
  const body = (await s.http.inject({ method: 'GET', url: '/-/status' })).json() as StatusBody;
  return body.deployments.find((d) => d.name === name)!;
}

const savedGpus = process.env.THREADSERVE_GPUS;
afterEach(() => {
  if (savedGpus === undefined) delete process.env.THREADSERVE_GPUS;
  else process.env.THREADSERVE_GPUS = savedGpus;
});

describe('scale', () => {
  it('adds replicas that take calls, and removes replicas without failing a call', async () => {
    const s = await serve.run(FrontD.bind(WorkD.bind()), { listen: false, logLevel: 'silent' });
    try {
      const front = s.handle<Front>('Front');
      await s.scale('Work', 3);
      assert.equal((await replicasOf(s, 'Work')).replicas.filter((r) => r.state === 'running').length, 3);
      // 3 replicas x maxOngoingRequests 2: six calls run at once, on all three replicas.
      const served = new Set(await Promise.all(Array.from({ length: 6 }, () => front.run(300))));
      assert.equal(served.size, 3);

      // Scale down while calls run and more wait in the queue: every call answers.
      const load = Array.from({ length: 30 }, () => front.run(100));
      await sleep(50);
      await s.scale('Work', 1);
      const results = await Promise.allSettled(load);
      assert.deepEqual(
        results.filter((r) => r.status === 'rejected'),
        [],
      );
      const after = await replicasOf(s, 'Work');
      assert.equal(after.replicas.length, 1);
      // The replica left is the one the later calls all went to.
      const last = await Promise.all(Array.from({ length: 4 }, () => front.run(1)));
      assert.deepEqual(new Set(last), new Set([after.replicas[0]!.id]));
    } finally {
      await s.close();
    }
  });

  it('never stops a replica while its call runs, however long the call', async () => {
    const s = await serve.run(WorkD.options({ numReplicas: 2, maxOngoingRequests: 1, gracefulShutdownTimeoutS: 0.2 }).bind(), {
      listen: false,
      logLevel: 'silent',
    });
    try {
      const work = s.handle<Work>('Work');
      // Both replicas busy with calls longer than the graceful timeout.
      const calls = [work.run(800), work.run(800)];
      await sleep(100);
      await s.scale('Work', 1);
      assert.equal((await Promise.allSettled(calls)).filter((r) => r.status === 'rejected').length, 0);
      assert.equal((await replicasOf(s, 'Work')).replicas.length, 1);
    } finally {
      await s.close();
    }
  });

  it('keeps serving with fewer replicas when no GPU has room, and starts them when room frees', async () => {
    process.env.THREADSERVE_GPUS = '0';
    const other = HalfGpuWork.options({ name: 'Other' });
    const s = await serve.run({ a: HalfGpuWork.bind(), b: other.bind() }, { listen: false, logLevel: 'silent' });
    try {
      // The device holds two halves: both taken, so a third cannot start.
      await s.scale('HalfGpuWork', 2);
      assert.equal((await replicasOf(s, 'HalfGpuWork')).replicas.length, 1);
      assert.match(await s.handle<Work>('HalfGpuWork').run(1), /^HalfGpuWork#/);
      const metrics = (await s.http.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /threadserve_replicas_waiting_for_gpu\{deployment="HalfGpuWork"\} 1/);
      // Other gives its half back: the waiting replica starts.
      await s.scale('Other', 0);
      const end = Date.now() + 10000;
      while ((await replicasOf(s, 'HalfGpuWork')).replicas.filter((r) => r.state === 'running').length < 2) {
        if (Date.now() > end) throw new Error('the waiting replica did not start');
        await sleep(20);
      }
    } finally {
      await s.close();
    }
  });

  it('rejects a bad count or an unknown deployment', async () => {
    const s = await serve.run(WorkD.bind(), { listen: false, logLevel: 'silent' });
    try {
      await assert.rejects(s.scale('Nope', 1), (e: unknown) => e instanceof OptionsError && /no deployment named "Nope"/.test(e.message));
      await assert.rejects(s.scale('Work', 1.5), /scale: deployment "Work": numReplicas must be a non-negative integer, got 1.5/);
    } finally {
      await s.close();
    }
  });
});
