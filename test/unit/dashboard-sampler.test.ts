// The dashboard's per-second sampling, without threads: quantiles from histogram buckets, and
// the sampler's rates, latencies, batch sizes and hit rates read from a real metrics registry
// on a clock the test moves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpTraffic } from '../../runtime/main/dashboard/http-traffic.ts';
import { bucketQuantile, fromCumulative } from '../../runtime/main/dashboard/quantiles.ts';
import { TrafficSampler } from '../../runtime/main/dashboard/traffic-sampler.ts';
import { Metrics } from '../../runtime/main/metrics.ts';

describe('bucketQuantile', () => {
  it('interpolates inside the bucket that holds the rank, as histogram_quantile does', () => {
    assert.equal(bucketQuantile(0.5, [1, 2, 3], [0, 10, 0]), 1.5);
    assert.equal(bucketQuantile(0.5, [1, 2, 4], [10, 0, 10]), 1);
    assert.equal(bucketQuantile(0.99, [1, 2, 4], [10, 0, 10]), 3.96);
  });
  it('reports observations above the last bound as that bound, and nothing as null', () => {
    assert.equal(bucketQuantile(0.99, [1, 2], [1, 0, 99]), 2);
    assert.equal(bucketQuantile(0.5, [1, 2], [0, 0, 0]), null);
  });
  it('turns cumulative buckets into per-bucket counts with the overflow last', () => {
    assert.deepEqual(fromCumulative([2, 5, 5], 7), [2, 3, 0, 2]);
  });
});

function setup(capacity = 300) {
  let now = 1_000_000;
  const metrics = new Metrics({ deployments: () => [] });
  const http = new HttpTraffic();
  const gauges = [
    { name: 'Model', queued: 3, inFlight: 2 },
    { name: 'Idle', queued: 0, inFlight: 0 },
  ];
  const sampler = new TrafficSampler({ registry: metrics.registry, http, gauges: () => gauges }, capacity, () => now);
  return { metrics, http, sampler, advance: (ms: number) => (now += ms) };
}

describe('TrafficSampler', () => {
  it('measures calls/s, error rate, p50/p99, queue wait, batch size and hit rate over the last interval', async () => {
    const { metrics, http, sampler, advance } = setup();
    assert.equal(await sampler.sample(), undefined, 'the first read is the baseline');
    const model = metrics.forDeployment('Model');
    for (let i = 0; i < 99; i++) {
      model.started(0);
      model.finished(0.004, true);
    }
    model.started(0.02);
    model.finished(0.2, false);
    metrics.replicaEvent('Model', { kind: 'batch', size: 4 });
    metrics.replicaEvent('Model', { kind: 'batch', size: 8 });
    for (const event of ['hit', 'hit', 'hit', 'miss'] as const) metrics.replicaEvent('Model', { kind: 'model', event });
    for (let i = 0; i < 50; i++) http.record(0.003, i < 45 ? 200 : i < 48 ? 400 : 503);
    advance(2000);

    const s = (await sampler.sample())!;
    const m = s.deployments.Model!;
    assert.equal(m.rps, 50, '100 calls in 2 s');
    assert.equal(m.errorRate, 0.01);
    assert.ok(m.p50Ms! > 2.5 && m.p50Ms! <= 5, `p50 ${m.p50Ms} ms is in the (2.5, 5] ms bucket`);
    assert.ok(m.p99Ms! > 2.5 && m.p99Ms! <= 5, `p99 ${m.p99Ms} ms: 99 of 100 calls took 4 ms`);
    assert.ok(m.queueP99Ms! > 0, 'one call waited');
    assert.deepEqual([m.queued, m.inFlight, m.batchMean, m.hitRate], [3, 2, 6, 0.75]);
    assert.deepEqual(s.deployments.Idle, {
      rps: 0,
      errorRate: null,
      p50Ms: null,
      p99Ms: null,
      queueP99Ms: null,
      queued: 0,
      inFlight: 0,
      batchMean: null,
      hitRate: null,
    });
    assert.equal(s.http.rps, 25);
    assert.ok(Math.abs(s.http.p50Ms! - 3) < 0.5, `HTTP p50 ${s.http.p50Ms} ms is within a bucket of 3 ms`);
    assert.deepEqual([s.http.clientErrorRate, s.http.serverErrorRate], [0.06, 0.04]);
    assert.deepEqual(sampler.totals.http, { requests: 50, clientErrors: 3, serverErrors: 2 });
    assert.deepEqual(sampler.totals.deployments.Model, {
      requests: 100,
      errors: 1,
      batches: 2,
      batchedItems: 12,
      modelHits: 3,
      modelMisses: 1,
      modelLoads: 0,
      modelEvictions: 0,
    });

    advance(1000);
    const quiet = (await sampler.sample())!;
    assert.deepEqual(
      [quiet.deployments.Model!.rps, quiet.deployments.Model!.p99Ms, quiet.http.p99Ms],
      [0, null, null],
      'each sample covers only its own interval',
    );
  });

  it('reports a queue wait of 0 when no call waited', async () => {
    const { metrics, sampler, advance } = setup();
    await sampler.sample();
    const model = metrics.forDeployment('Model');
    model.started(0);
    model.finished(0.001, true);
    advance(1000);
    assert.equal((await sampler.sample())!.deployments.Model!.queueP99Ms, 0);
  });

  it('keeps the last `capacity` samples, oldest first', async () => {
    const { sampler, advance } = setup(3);
    await sampler.sample();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      times.push(advance(1000));
      await sampler.sample();
    }
    assert.deepEqual(
      sampler.history().map((s) => s.t),
      times.slice(-3),
    );
  });
});
