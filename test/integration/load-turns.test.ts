// maxConcurrentLoads: model loads share turns across a deployment's replicas, and a replica that
// dies in the middle of a load gives its turn back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { OneLoadAtATime, TwoLoadsAtATime } from '../fixtures/load-turns.ts';
import type { LoadSpan } from '../fixtures/load-turns.ts';

/** Pairs of loads whose spans overlap in time. */
function overlaps(spans: LoadSpan[]): number {
  let n = 0;
  for (let i = 0; i < spans.length; i++) for (let j = i + 1; j < spans.length; j++) if (spans[i]!.start < spans[j]!.end && spans[j]!.start < spans[i]!.end) n++;
  return n;
}

describe('load turns across replicas', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run({ one: OneLoadAtATime.bind(), two: TwoLoadsAtATime.bind() }, { host: '127.0.0.1', port: 0, logLevel: 'silent' });
  });
  after(() => s.close());

  const loadAll = (app: string, ids: string[]) =>
    Promise.all(ids.map((id) => s.handle<{ predict(): Promise<LoadSpan> }>(app).options({ multiplexedModelId: id }).predict()));

  it('runs one load at a time over both replicas with maxConcurrentLoads 1, and overlaps with 2', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const one = await loadAll('one', ids);
    assert.equal(new Set(one.map((x) => x.replica)).size, 2, 'both replicas loaded models');
    assert.equal(overlaps(one), 0, `loads overlapped: ${JSON.stringify(one)}`);
    const two = await loadAll('two', ids);
    assert.equal(new Set(two.map((x) => x.replica)).size, 2);
    assert.ok(overlaps(two) > 0, 'with two turns, the replicas load at the same time');
    // /metrics says how long loads waited for their turns: six loads of 120 ms, one at a time, wait over a second in all.
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const waited = (d: string) => Number(new RegExp(`threadserve_model_load_wait_seconds_sum\\{deployment="${d}"\\} (\\S+)`).exec(metrics)?.[1]);
    assert.ok(waited('one') > 1, `waits with one turn: ${waited('one')} s`);
    assert.ok(waited('two') < waited('one'), `waits with two turns: ${waited('two')} s`);
  });

  it('gives back the turn of a replica that died while loading', async () => {
    const handle = s.handle<{ predict(): Promise<LoadSpan> }>('one');
    const died = handle.options({ multiplexedModelId: 'die' }).predict();
    await assert.rejects(died);
    // Without the turn given back, this load would wait for ever.
    const next = await Promise.race([
      handle.options({ multiplexedModelId: 'after-death' }).predict(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the load after the death never got a turn')), 15_000)),
    ]);
    assert.equal(next.model, 'after-death');
  });
});
