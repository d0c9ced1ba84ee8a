// GPU pinning through serve.run, without a GPU: THREADSERVE_GPUS stands in for the machine.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { OptionsError, serve } from 'threadserve';
import { CpuOnly, HalfGpu, WholeGpu } from '../fixtures/gpu.ts';

const saved = process.env.THREADSERVE_GPUS;
afterEach(() => {
  if (saved === undefined) delete process.env.THREADSERVE_GPUS;
  else process.env.THREADSERVE_GPUS = saved;
});

describe('GPU pinning', () => {
  it('packs fractional replicas and gives each replica its device id', async () => {
    process.env.THREADSERVE_GPUS = '0,1,2';
    const s = await serve.run({ half: HalfGpu.bind(), whole: WholeGpu.bind(), cpu: CpuOnly.bind() }, { listen: false, logLevel: 'silent' });
    try {
      const seen = new Map<string, number | undefined>();
      for (let i = 0; i < 40; i++) {
        const w = await s.handle<{ where(): { replica: string; deviceId: number | undefined } }>('HalfGpu').where();
        seen.set(w.replica, w.deviceId);
      }
      const devices = [...seen.values()].sort();
      // The whole GPU takes one device alone; three half-GPU replicas share the other two.
      assert.equal(seen.size, 3);
      const whole = await s.handle<{ where(): { deviceId: number | undefined; gpuIds: number[] } }>('WholeGpu').where();
      assert.equal(whole.gpuIds.length, 1);
      const counts = new Map<number, number>();
      for (const d of devices) counts.set(d!, (counts.get(d!) ?? 0) + 1);
      // Capacity check: the whole-GPU device carries no half replica.
      assert.equal(counts.get(whole.deviceId!) ?? 0, 0);
      assert.deepEqual([...counts.values()].sort(), [1, 2]);
      const cpu = await s.handle<{ where(): { deviceId: number | undefined; gpuIds: number[] } }>('CpuOnly').where();
      assert.deepEqual(cpu, { replica: 'CpuOnly#0', deviceId: undefined, gpuIds: [] });
      assert.match(s.statusText(), /WholeGpu\s+WholeGpu#0\s+running\s+gpu \d/);
      assert.match(s.statusText(), /HalfGpu\s+HalfGpu#0\s+running\s+gpu \d \(0\.5\)/);
      assert.match(s.statusText(), /CpuOnly\s+CpuOnly#0\s+running\s+cpu/);
    } finally {
      await s.close();
    }
  });

  it('refuses to start when the request cannot be met, naming the deployment', async () => {
    process.env.THREADSERVE_GPUS = '0,1';
    await assert.rejects(serve.run(WholeGpu.options({ numReplicas: 3 }).bind(), { listen: false }), (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      assert.equal(err.message, 'deployment "WholeGpu" asks 3 x 1 GPU, 2 visible');
      return true;
    });
    process.env.THREADSERVE_GPUS = '';
    await assert.rejects(serve.run(HalfGpu.bind(), { listen: false }), /deployment "HalfGpu" asks 3 x 0\.5 GPU, 0 visible/);
  });

  it('rejects a numGpus that is neither a fraction nor a whole number', async () => {
    await assert.rejects(serve.run(WholeGpu.options({ numGpus: 1.5 }).bind(), { listen: false }), {
      message: 'deployment "WholeGpu": numGpus must be 0, a fraction of one GPU, or a whole number of GPUs, got 1.5',
    });
  });
});
