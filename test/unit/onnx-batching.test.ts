// OnnxModel dynamic batching: concurrent predicts stack along the first dimension, answers match
// unbatched runs, and requests with different other dimensions run in separate groups.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OnnxModel } from '../../deployments/onnx/onnx-model.ts';
import { MODEL_PATHS } from '../../deployments/ocr/steps.ts';
import { generateModels } from '../../examples/forecast/generate-models.ts';

describe('OnnxModel batching', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ts-batch-'));
    await generateModels(dir, 1);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const row = (k: number) => Float32Array.from({ length: 11 }, (_, i) => 1 + ((i * 7 + k) % 5) / 10);

  it('stacks concurrent requests into one run with the same answers', async () => {
    const path = join(dir, 'AD.onnx');
    const plain = new OnnxModel({ path, intraOpNumThreads: 1 });
    const batched = new OnnxModel({ path, intraOpNumThreads: 1, batching: { maxBatchSize: 16, batchWaitTimeoutS: 0.005 } });
    await Promise.all([plain.init(), batched.init()]);
    const sizes: number[] = [];
    await batched.predict({ features: { data: row(0), dims: [1, 11] } });
    batched.batchQueue!.onBatch((n) => sizes.push(n));
    const inputs = Array.from({ length: 12 }, (_, k) => (k === 5 ? [row(k), row(k + 1)] : [row(k)]));
    const feed = (rows: Float32Array[]) => ({ features: { data: Float32Array.from(rows.flatMap((r) => [...r])), dims: [rows.length, 11] } });
    const together = await Promise.all(inputs.map((rows) => batched.predict(feed(rows))));
    const alone: Array<Awaited<ReturnType<OnnxModel['predict']>>> = [];
    for (const rows of inputs) alone.push(await plain.predict(feed(rows)));
    assert.deepEqual(sizes, [12], 'one batch of 12 requests');
    together.forEach((r, k) => {
      assert.deepEqual(r.forecast!.dims, [inputs[k]!.length, 1]);
      assert.deepEqual([...(r.forecast!.data as Float32Array)], [...(alone[k]!.forecast!.data as Float32Array)]);
    });
    await Promise.all([plain.shutdown(), batched.shutdown()]);
  });

  it('runs requests with different non-batch dimensions as separate groups', async () => {
    const rec = new OnnxModel({ path: MODEL_PATHS.rec, intraOpNumThreads: 1, batching: { maxBatchSize: 8, batchWaitTimeoutS: 0.005 } });
    await rec.init();
    const x = (w: number, v: number) => ({ x: { data: new Float32Array(3 * 48 * w).fill(v), dims: [1, 3, 48, w] } });
    const [a, b, c] = await Promise.all([rec.predict(x(16, 0.1)), rec.predict(x(32, 0.2)), rec.predict(x(16, 0.3))]);
    const out = (r: Record<string, { dims: number[] }>) => Object.values(r)[0]!.dims;
    assert.equal(out(a!)[0], 1);
    assert.equal(out(a!)[1], out(c!)[1]);
    assert.notEqual(out(a!)[1], out(b!)[1], 'width 32 gives more time steps than width 16');
    await assert.rejects(rec.predict({ x: { data: new Float32Array(5), dims: [1, 3, 48, 16] } }), { statusCode: 400 });
    await rec.shutdown();
  });
});
