// A real ONNX model (PP-OCRv4 recognition) served as a deployment and over the Open Inference Protocol.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { OnnxModelDeployment } from '../../deployments/onnx/deployment.ts';
import { MODEL_PATHS } from '../../deployments/ocr/steps.ts';

const REC = MODEL_PATHS.rec;

describe('ONNX model deployment over the Open Inference Protocol', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run(
      { rec: OnnxModelDeployment.options({ name: 'rec', numReplicas: 1 }).bind({ path: REC, intraOpNumThreads: 1 }) },
      { listen: false, logLevel: 'silent', bodyLimit: 8 * 1024 * 1024 },
    );
  });
  after(() => s.close());

  const infer = (payload: unknown, headers: Record<string, string> = {}) =>
    s.http.inject({ method: 'POST', url: '/v2/models/rec/infer', payload: payload as string, headers: { 'content-type': 'application/json', ...headers } });
  const zeros = (w: number) => ({ name: 'x', datatype: 'FP32', shape: [1, 3, 48, w], data: new Array(3 * 48 * w).fill(0) });

  it('reports health, server and model metadata with -1 for dynamic dimensions', async () => {
    assert.equal((await s.http.inject({ url: '/v2/health/live' })).statusCode, 200);
    assert.equal((await s.http.inject({ url: '/v2/health/ready' })).statusCode, 200);
    assert.equal((await s.http.inject({ url: '/v2' })).json().name, 'threadserve');
    const meta = (await s.http.inject({ url: '/v2/models/rec' })).json();
    assert.equal(meta.name, 'rec');
    assert.deepEqual(meta.versions, ['1']);
    assert.deepEqual(meta.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, -1] }]);
    assert.equal(meta.outputs[0].shape.at(-1), 6625);
    assert.equal((await s.http.inject({ url: '/v2/models/rec/versions/1/ready' })).statusCode, 200);
    const index = await s.http.inject({ method: 'POST', url: '/v2/repository/index', payload: {}, headers: { 'content-type': 'application/json' } });
    assert.deepEqual(index.json(), [{ name: 'rec', version: '1', state: 'READY' }]);
    const unknown = await s.http.inject({ url: '/v2/models/nope' });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json().error, /unknown model "nope"/);
  });

  it('runs inference with JSON tensors and with the binary tensor extension', async () => {
    const r = await infer({ id: 'req-1', inputs: [zeros(64)] });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.equal(body.id, 'req-1');
    assert.equal(body.model_name, 'rec');
    const out = body.outputs[0];
    assert.equal(out.datatype, 'FP32');
    assert.deepEqual(out.shape.slice(0, 1).concat(out.shape.slice(2)), [1, 6625]);
    assert.equal(
      out.data.length,
      out.shape.reduce((a: number, b: number) => a * b, 1),
    );

    const tensor = new Float32Array(3 * 48 * 32);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 32], parameters: { binary_data_size: tensor.byteLength } }],
        parameters: { binary_data_output: true },
      }),
    );
    const bin = await s.http.inject({
      method: 'POST',
      url: '/v2/models/rec/versions/1/infer',
      payload: Buffer.concat([header, Buffer.from(tensor.buffer)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
    assert.equal(bin.statusCode, 200, bin.body);
    const headerLength = Number(bin.headers['inference-header-content-length']);
    const json = JSON.parse(bin.rawPayload.subarray(0, headerLength).toString());
    const size = json.outputs[0].parameters.binary_data_size;
    assert.equal(bin.rawPayload.length, headerLength + size);
    assert.equal(size, json.outputs[0].shape.reduce((a: number, b: number) => a * b, 1) * 4);
  });

  it('checks inputs against the model before running it, and keeps serving', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ inputs: [{ ...zeros(8), name: 'y' }] }, /input "y"/],
      [{ inputs: [{ ...zeros(8), datatype: 'INT32', data: new Array(3 * 48 * 8).fill(0) }] }, /input "x".*float32|FP32/i],
      [{ inputs: [{ ...zeros(8), shape: [1, 3, 48], data: new Array(3 * 48).fill(0) }] }, /input "x".*rank|dimensions/i],
      [{ inputs: [{ ...zeros(8), shape: [1, 1, 48, 8], data: new Array(48 * 8).fill(0) }] }, /input "x".*3/],
      [{ inputs: [{ ...zeros(8), data: [1, 2, 3] }] }, /3 .*1152|1152.*3|data/i],
      [{ inputs: [] }, /missing|input "x"|inputs/i],
    ];
    for (const [payload, message] of cases) {
      const r = await infer(payload);
      assert.equal(r.statusCode, 400, `${JSON.stringify(payload).slice(0, 80)} -> ${r.body}`);
      assert.match(r.json().error, message);
    }
    assert.equal((await infer({ inputs: [zeros(16)] })).statusCode, 200);
  });

  it('is callable through a handle with typed arrays', async () => {
    const h = s.handle<{ predict(i: Record<string, { data: Float32Array; dims: number[] }>): Promise<Record<string, { data: Float32Array; dims: number[] }>> }>(
      'rec',
    );
    const out = await h.predict({ x: { data: new Float32Array(3 * 48 * 16), dims: [1, 3, 48, 16] } });
    const first = Object.values(out)[0]!;
    assert.ok(first.data instanceof Float32Array);
    assert.equal(first.dims[2], 6625);
  });
});

describe('ONNX model deployment asking for a GPU on a machine without CUDA', () => {
  const saved = process.env.THREADSERVE_GPUS;
  after(() => {
    if (saved === undefined) delete process.env.THREADSERVE_GPUS;
    else process.env.THREADSERVE_GPUS = saved;
  });

  it('fails at start saying what is missing, or falls back to CPU when allowed', async () => {
    process.env.THREADSERVE_GPUS = '0';
    await assert.rejects(
      serve.run(OnnxModelDeployment.options({ name: 'gpuRec', numGpus: 1 }).bind({ path: REC }), { listen: false, logLevel: 'silent' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'STARTUP_FAILED');
        assert.match(err.message, /deployment "gpuRec" failed to start: .*cuda/i);
        assert.match(err.message, /libonnxruntime_providers_cuda\.so/);
        return true;
      },
    );
    const s = await serve.run(OnnxModelDeployment.options({ name: 'gpuRec', numGpus: 1 }).bind({ path: REC, allowCpuFallback: true }), {
      listen: false,
      logLevel: 'silent',
    });
    try {
      assert.match(s.statusText(), /gpuRec\s+gpuRec#0\s+running\s+gpu 0/);
      const meta = await s.http.inject({ url: '/v2/models/gpuRec' });
      assert.equal(meta.statusCode, 200);
    } finally {
      await s.close();
    }
  });
});
