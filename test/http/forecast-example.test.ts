// examples/forecast: per-country models multiplexed over two replicas, over HTTP and V2.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployment, multiplexedModelId, serve } from 'threadserve';
import type { Handle, ServeInstance } from 'threadserve';
import { generateModels } from '../../examples/forecast/generate-models.ts';
import type { OnnxRepository } from '../../deployments/onnx/repository.ts';

const history = [120, 130, 125, 140, 150, 145, 160, 155];

/** An ingress that forwards the request's serve_multiplexed_model_id to the model repository. */
class ByHeader {
  constructor(private readonly models: Handle<OnnxRepository>) {}
  async call() {
    const id = multiplexedModelId();
    const out = await this.models.options({ multiplexedModelId: id! }).run({ features: { data: new Float32Array(11).fill(1), dims: [1, 11] } });
    return { id, modelId: out.modelId, version: out.version };
  }
}
const ByHeaderIngress = deployment(ByHeader, { route: '/by-header' });

describe('examples/forecast', () => {
  let dir: string;
  let s: ServeInstance;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ts-forecast-'));
    await generateModels(dir, 12); // AD, AE, AF, AG, AI, AL, AM, AO, AQ, AR, AS, AT
    process.env.FORECAST_MODELS = dir;
    const { countryModels, default: app } = await import('../../examples/forecast/app.ts');
    s = await serve.run({ forecast: app, byHeader: ByHeaderIngress.bind(countryModels) }, { listen: false, logLevel: 'silent' });
  });
  after(async () => {
    await s?.close();
    delete process.env.FORECAST_MODELS;
    await rm(dir, { recursive: true, force: true });
  });

  const forecast = (body: unknown, headers: Record<string, string> = {}) =>
    s.http.inject({ method: 'POST', url: '/forecast', payload: body as object, headers });

  it('answers with the country, a forecast and the model version; countries differ', async () => {
    const ad = await forecast({ country: 'ad', history, date: '2026-03-02' });
    assert.equal(ad.statusCode, 200, ad.body);
    const a = ad.json();
    assert.equal(a.country, 'AD');
    assert.equal(a.modelVersion, '1');
    assert.ok(a.forecast > 50 && a.forecast < 400, `forecast ${a.forecast}`);
    const ae = (await forecast({ country: 'AE', history, date: '2026-03-02' })).json();
    assert.notEqual(ae.forecast, a.forecast);
    assert.deepEqual((await forecast({ country: 'AD', history, date: '2026-03-02' })).json(), a);
  });

  it('answers an unknown country with 404 naming it, and a malformed history with 400', async () => {
    const unknown = await forecast({ country: 'DE', history });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json().error.message, /"DE"/);
    const bad = await forecast({ country: 'AD', history: [1, 2, 3] });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /history must have 8 weeks of sales, got 3/);
    const negative = await forecast({ country: 'AD', history: [1, 2, 3, 4, 5, 6, 7, -8] });
    assert.match(negative.json().error.message, /history\[7\] must not be negative, got -8/);
    const code = await forecast({ country: 'Germany', history });
    assert.equal(code.statusCode, 400);
    assert.match(code.json().error.message, /ISO 3166 alpha-2/);
  });

  it('serves each country over the Open Inference Protocol, and refuses ids outside the repository', async () => {
    const row = [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0];
    const infer = (id: string) =>
      s.http.inject({
        method: 'POST',
        url: `/v2/models/${id}/infer`,
        payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], data: row }] },
      });
    const r = await infer('AF');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json().outputs[0].shape, [1, 1]);
    const meta = (await s.http.inject({ url: '/v2/models/AF' })).json();
    assert.deepEqual(meta.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 11] }]);
    assert.deepEqual(meta.versions, ['1']);
    for (const id of ['DE', '..%2F..%2Fetc%2Fpasswd', '%2Fetc%2Fpasswd', '.hidden']) {
      const bad = await infer(id);
      assert.equal(bad.statusCode, 404, `${id}: ${bad.body}`);
      assert.equal(typeof bad.json().error, 'string');
    }
    const index = (await s.http.inject({ method: 'POST', url: '/v2/repository/index', payload: {} })).json() as Array<{ name: string; state: string }>;
    assert.equal(index.length, 12);
    assert.equal(index.find((m) => m.name === 'AF')?.state, 'READY');
    assert.equal(index.find((m) => m.name === 'AT')?.state, 'UNAVAILABLE');
  });

  it('keeps a model on the replica that loaded it, and evicts past maxNumModelsPerReplica', async () => {
    const models = s.handle<OnnxRepository>('CountryModels');
    const x = () => ({ features: { data: new Float32Array(11).fill(1), dims: [1, 11] } });
    const replicas = new Set<string>();
    for (let i = 0; i < 10; i++) replicas.add((await models.options({ multiplexedModelId: 'AG' }).run(x())).replica);
    assert.equal(replicas.size, 1, 'sequential calls for one model stay on one replica');
    // 12 countries over 2 replicas x 8 slots: every answer stays right while models are evicted.
    const first = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (const id of ['AD', 'AE', 'AF', 'AG', 'AI', 'AL', 'AM', 'AO', 'AQ', 'AR', 'AS', 'AT']) {
        const out = await models.options({ multiplexedModelId: id }).run(x());
        const v = (out.outputs.forecast!.data as Float32Array)[0]!;
        if (round === 0) first.set(id, v);
        else assert.equal(v, first.get(id));
      }
    }
    const stats = await Promise.all(Array.from({ length: 8 }, () => models.cacheStats()));
    for (const st of stats) assert.ok(st.loaded.length <= 8, `loaded ${st.loaded.length}`);
    const metrics = (await s.http.inject({ url: '/metrics' })).body;
    const count = (event: string) =>
      Number(new RegExp(`threadserve_multiplexed_model_events_total\\{deployment="CountryModels",event="${event}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    assert.ok(count('load') >= 12, `loads ${count('load')}`);
    assert.ok(count('hit') > 0, 'warm requests hit the cache');
    assert.ok(count('admitted') >= 1, `admitted ${count('admitted')}`);
    for (const st of stats) assert.ok(st.admitted + st.rejected >= st.misses, 'every miss is admitted or served uncached');
    assert.match(metrics, /threadserve_batch_size_count\{deployment="CountryModels"\} \d+/);
    assert.match(metrics, /threadserve_model_load_duration_seconds_count\{deployment="CountryModels"\} \d+/);
    const loads = Number(/threadserve_model_load_duration_seconds_count\{deployment="CountryModels"\} (\d+)/.exec(metrics)![1]);
    assert.ok(loads > 0);
    // Every load says how long it waited for its turn.
    assert.match(metrics, new RegExp(`threadserve_model_load_wait_seconds_count\\{deployment="CountryModels"\\} ${loads}\\b`));
  });

  it('takes the model id from the serve_multiplexed_model_id header', async () => {
    const r = await s.http.inject({ method: 'POST', url: '/by-header', headers: { serve_multiplexed_model_id: 'AL' }, payload: {} });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), { id: 'AL', modelId: 'AL', version: '1' });
    // With no id anywhere, the repository asks for one.
    const none = await s.http.inject({
      method: 'POST',
      url: '/v2/models/CountryModels/infer',
      payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], data: new Array(11).fill(1) }] },
    });
    assert.equal(none.statusCode, 400);
    assert.match(none.json().error, /no model id/);
  });
});
