// Client-caused errors that used to surface deep inside models answer 400 naming the input,
// with no library internals: onnxruntime kernel failures on shapes that passed the metadata
// checks, non-finite numbers, reserved input names, and a forecast history that overflows.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { OnnxModelDeployment } from 'threadserve/onnx';
import { MODEL_PATHS } from 'threadserve/ocr';
import { generateModels } from '../../examples/forecast/generate-models.ts';

describe('HTTP edge: model inputs', () => {
  let dir: string;
  let s: ServeInstance;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ts-edge-models-'));
    await generateModels(dir, 2);
    process.env.FORECAST_MODELS = dir;
    const { default: forecast } = await import('../../examples/forecast/app.ts');
    s = await serve.run(
      {
        forecast,
        det: OnnxModelDeployment.options({ name: 'ocr-det' }).bind({ path: MODEL_PATHS.det, intraOpNumThreads: 1 }),
        rec: OnnxModelDeployment.options({ name: 'ocr-rec' }).bind({ path: MODEL_PATHS.rec, intraOpNumThreads: 1 }),
      },
      { port: 0, logLevel: 'silent' },
    );
  });
  after(async () => {
    await s?.close();
    delete process.env.FORECAST_MODELS;
    await rm(dir, { recursive: true, force: true });
  });

  const postJson = (path: string, body: unknown) =>
    fetch(`${s.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const tensor = (name: string, shape: number[], value = 0) => ({
    name,
    datatype: 'FP32',
    shape,
    data: new Array(shape.reduce((a, b) => a * b, 1)).fill(value),
  });

  it('answers onnxruntime failures on shapes that passed the checks with 400 naming the input, without source paths', async () => {
    const cases: Array<[string, string, number[], RegExp]> = [
      ['ocr-det', 'x', [1, 3, 3, 5], /model "[^"]+" cannot run input x \[1,3,3,5\]: its Add node .* failed: Attempting to broadcast/],
      ['ocr-rec', 'x', [0, 3, 48, 320], /model "[^"]+" cannot run input x \[0,3,48,320\]: its Reshape node .* failed: The input tensor cannot be reshaped/],
    ];
    for (const [model, input, shape, message] of cases) {
      const r = await postJson(`/v2/models/${model}/infer`, { inputs: [tensor(input, shape)] });
      const text = await r.text();
      assert.equal(r.status, 400, text);
      assert.match(JSON.parse(text).error, message);
      assert.doesNotMatch(text, /onnxruntime_src|\.h:\d+|\.cc:\d+|onnxruntime::/);
    }
    const ok = await postJson('/v2/models/ocr-rec/infer', { inputs: [tensor('x', [1, 3, 48, 16])] });
    assert.equal(ok.status, 200);
  });

  it('rejects reserved input names and non-finite values over V2 with 400 naming them', async () => {
    const features = tensor('features', [1, 11], 1);
    const cases: Array<[string, unknown, RegExp]> = [
      [
        '__proto__ beside a valid input',
        `{"inputs":[${JSON.stringify(features)},{"name":"__proto__","datatype":"FP32","shape":[1],"data":[1]}]}`,
        /'__proto__' is a reserved name/,
      ],
      ['constructor', { inputs: [{ ...features, name: 'constructor' }] }, /'constructor' is a reserved name/],
      [
        '1e999',
        `{"inputs":[{"name":"features","datatype":"FP32","shape":[1,11],"data":[1,1,1,1,1,1,1,1,1,1,1e999]}]}`,
        /input 'features': element 10 is Infinity; expected a finite number in FP32 range/,
      ],
      ['past FP32', { inputs: [{ ...features, data: [...features.data.slice(1), 1e39] }] }, /element 10 is 1e\+39; expected a finite number in FP32 range/],
      ['reserved parameter key', `{"inputs":[${JSON.stringify(features)}],"parameters":{"__proto__":{"x":1}}}`, /parameters\.__proto__.*reserved/],
    ];
    for (const [what, body, message] of cases) {
      const r = await postJson('/v2/models/AD/infer', body);
      const text = await r.text();
      assert.equal(r.status, 400, `${what}: ${text}`);
      assert.match(JSON.parse(text).error, message, what);
    }
    const ok = await postJson('/v2/models/AD/infer', { inputs: [features] });
    assert.equal(ok.status, 200, await ok.text());
  });

  it('answers a forecast history that overflows with 400 naming the history, and keeps serving', async () => {
    const r = await postJson('/forecast', { country: 'AD', history: new Array(8).fill(1e308) });
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(body.error.message, /history is too large: the sum of its 8 values is not a finite number/);
    const inf = await postJson('/forecast', '{"country":"AD","history":[1,1,1,1,1,1,1,1e999]}');
    assert.equal(inf.status, 400);
    assert.match(((await inf.json()) as { error: { message: string } }).error.message, /body\.history\[7\] must be a finite number/);
    const ok = await postJson('/forecast', { country: 'AD', history: [120, 130, 125, 140, 150, 145, 160, 155] });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { country: string }).country, 'AD');
  });
});
