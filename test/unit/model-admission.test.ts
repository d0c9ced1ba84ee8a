import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrequencySketch } from '../../runtime/worker/frequency-sketch.ts';
import { ModelCache, withModelLeases } from '../../runtime/worker/model-cache.ts';
import { setLoadingReporter } from '../../runtime/worker/call-context.ts';
import { modelCacheOf, multiplexed } from '../../runtime/worker/multiplexed.ts';
import { flush } from '../fixtures/fake-clock.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxRepository } from '../../deployments/onnx/repository.ts';
import { deferred } from '../fixtures/deferred.ts';

/** A cache over fake models whose loads and unloads go into one log. */
function fakeCache(max: number, admission?: 'frequency' | 'lru') {
  const log: string[] = [];
  const cache = new ModelCache<{ id: string }>(
    async (id) => {
      log.push(`load ${id}`);
      return { id };
    },
    { maxNumModelsPerReplica: max, ...(admission ? { admission } : {}), unload: (_m, id) => void log.push(`unload ${id}`) },
  );
  /** One call (as the replica host runs it) that fetches `id` and returns its model's id. */
  const call = (id: string) => withModelLeases(async () => (await cache.get(id)).id);
  return { cache, log, call };
}

describe('FrequencySketch', () => {
  it('estimates counts from above and ranks ids by how often they were recorded', () => {
    const s = new FrequencySketch(1024, 1_000_000);
    for (let i = 0; i < 50; i++) s.record('DE');
    for (let i = 0; i < 5; i++) s.record('FR');
    s.record('IT');
    assert.ok(s.estimate('DE') >= 50 && s.estimate('DE') <= 52, `DE ${s.estimate('DE')}`);
    assert.ok(s.estimate('FR') >= 5 && s.estimate('FR') <= 7);
    assert.ok(s.estimate('IT') >= 1 && s.estimate('IT') <= 3);
    assert.equal(s.estimate('never-seen-xyz'), 0);
  });

  it('halves every count after sampleSize records (aging)', () => {
    const s = new FrequencySketch(256, 100);
    for (let i = 0; i < 80; i++) s.record('old');
    assert.equal(s.estimate('old'), 80);
    for (let i = 0; i < 20; i++) s.record('new');
    assert.equal(s.agings, 1);
    assert.equal(s.estimate('old'), 40);
    assert.equal(s.estimate('new'), 10);
    // Yesterday's favourite loses its lead to a model that stays popular.
    for (let a = 0; a < 4; a++) for (let i = 0; i < 50; i++) s.record('new');
    assert.ok(s.estimate('new') > s.estimate('old'), `new ${s.estimate('new')} old ${s.estimate('old')}`);
  });

  it('refuses nonsense sizes', () => {
    assert.throws(() => new FrequencySketch(0, 10), /width must be a positive integer/);
    assert.throws(() => new FrequencySketch(16, 1.5), /sampleSize must be a positive integer/);
  });
});

describe('ModelCache frequency admission', () => {
  it('caches a model only when it is asked for more often than the model it would evict', async () => {
    const { cache, log, call } = fakeCache(2);
    for (let i = 0; i < 3; i++) await call('hot1');
    for (let i = 0; i < 3; i++) await call('hot2');
    // A one-off model is served, but not cached: the hot ones stay.
    assert.equal(await call('rare'), 'rare');
    await flush();
    assert.deepEqual(cache.ids(), ['hot2', 'hot1']);
    assert.deepEqual(log, ['load hot1', 'load hot2', 'load rare', 'unload rare']);
    // Asked for more often than the LRU victim (hot1, 3 requests): admitted, hot1 evicted.
    for (let i = 0; i < 4; i++) await call('rising');
    assert.deepEqual(cache.ids(), ['rising', 'hot2']);
    assert.equal(cache.has('hot1'), false);
    const st = cache.stats();
    assert.equal(st.rejected, 4, 'rare once, rising three times before it outnumbered hot1');
    assert.equal(st.admitted, 3, 'hot1, hot2, and rising on its fourth request');
    assert.equal(st.hits, 4);
    assert.equal(st.evictions, 1);
  });

  it('with admission "lru" every model is cached (Ray Serve behaviour)', async () => {
    const { cache, call } = fakeCache(2, 'lru');
    for (let i = 0; i < 3; i++) await call('hot1');
    for (let i = 0; i < 3; i++) await call('hot2');
    await call('rare');
    assert.deepEqual(cache.ids(), ['rare', 'hot2']);
    assert.equal(cache.stats().rejected, 0);
    assert.equal(cache.admission, 'lru');
    cache.setAdmission('frequency');
    assert.equal(cache.admission, 'frequency');
    assert.throws(() => cache.setAdmission('lfu' as never), /admission must be one of "frequency", "lru", got "lfu"/);
  });

  it('an uncached model is shared by concurrent callers and unloaded after the last one', async () => {
    const gate = deferred();
    const log: string[] = [];
    let loads = 0;
    const cache = new ModelCache<{ id: string }>(
      async (id) => {
        loads++;
        if (id === 'rare') await gate.promise;
        return { id };
      },
      { maxNumModelsPerReplica: 1, unload: (_m, id) => void log.push(`unload ${id}`) },
    );
    await withModelLeases(() => cache.get('hot'));
    await withModelLeases(() => cache.get('hot'));
    const done: string[] = [];
    const first = deferred();
    const slow = withModelLeases(async () => {
      const m = await cache.get('rare');
      await first.promise; // this caller keeps using it after the other finished
      done.push('slow');
      return m;
    });
    const quick = withModelLeases(async () => {
      const m = await cache.get('rare');
      done.push('quick');
      return m;
    });
    gate.resolve();
    const [a, b] = await Promise.all([quick, Promise.resolve()]);
    assert.equal(a.id, 'rare');
    await flush();
    assert.deepEqual(log, [], 'still used by the slow caller');
    first.resolve();
    assert.equal(await slow, a, 'both callers got the one load');
    void b;
    await flush();
    assert.deepEqual(log, ['unload rare']);
    assert.equal(loads, 2);
    assert.deepEqual(cache.ids(), ['hot']);
    assert.deepEqual(done, ['quick', 'slow']);
    const st = cache.stats();
    assert.equal(st.rejected, 1);
    assert.equal(st.hits, 2, "hot's second request and the second caller joining rare's load");
    assert.equal(st.resident, 1, 'only hot is left in memory');
    assert.equal(st.peakResident, 2, 'hot and the served-only model');
  });

  it('promotes a served-only model that is asked for often enough while in use', async () => {
    const { cache, log } = fakeCache(1);
    await withModelLeases(() => cache.get('a'));
    const hold = deferred();
    const holder = withModelLeases(async () => {
      await cache.get('b');
      await hold.promise;
    });
    await flush();
    assert.deepEqual(cache.ids(), ['a'], 'b (1 request) does not beat a (1 request)');
    // More requests for b while its first caller still holds it: now b outnumbers a.
    await withModelLeases(() => cache.get('b'));
    await flush();
    assert.deepEqual(cache.ids(), ['b']);
    hold.resolve();
    await holder;
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload a'], 'b was loaded once and stays');
    assert.equal(cache.stats().admitted, 2);
  });

  it('re-reports the held ids when a served-only model goes, so routers drop their guess', async () => {
    const { cache, call } = fakeCache(1);
    const reports: string[][] = [];
    cache.onChange((ids) => reports.push(ids));
    await call('a');
    await call('a');
    await call('rare');
    await flush();
    assert.deepEqual(reports, [['a'], ['a']]);
  });

  it('a get() outside any call (nothing can pin it) is always cached', async () => {
    const { cache } = fakeCache(1);
    await cache.get('a');
    await cache.get('a');
    await cache.get('b');
    assert.deepEqual(cache.ids(), ['b']);
  });

  it('marks loads and unloads for the router while they run', async () => {
    const marks: number[] = [];
    setLoadingReporter((d) => marks.push(d));
    try {
      const gate = deferred();
      const cache = new ModelCache(
        async (id: string) => {
          await gate.promise;
          return { id };
        },
        { maxNumModelsPerReplica: 1, admission: 'lru', unload: () => undefined },
      );
      const p = cache.get('a');
      await flush();
      assert.deepEqual(marks, [1], 'loading while the load runs');
      gate.resolve();
      await p;
      assert.deepEqual(marks, [1, -1]);
      await cache.get('b'); // evicts a: its unload is marked too
      assert.deepEqual(marks, [1, -1, 1, -1, 1, -1]);
    } finally {
      setLoadingReporter(() => undefined);
    }
  });

  it('@multiplexed takes and checks the admission option', async () => {
    class M {
      @multiplexed({ maxNumModelsPerReplica: 1, admission: 'lru' })
      async load(id: string) {
        return { id };
      }
    }
    const m = new M();
    assert.equal(modelCacheOf(m, 'load').admission, 'lru');
    assert.throws(
      () => multiplexed(async (id: string) => id, { admission: 'mru' as never }),
      /@multiplexed .*admission must be one of "frequency", "lru", got "mru"/,
    );
  });

  it('keeps at most the cap plus one served-only model in memory; a call holding one is not made to wait', async () => {
    const { cache, log } = fakeCache(1);
    await withModelLeases(() => cache.get('hot'));
    await withModelLeases(() => cache.get('hot'));
    const holdA = deferred();
    const a = withModelLeases(async () => {
      await cache.get('rare-a');
      await holdA.promise;
    });
    await flush();
    // Another call's served-only model waits until rare-a is unloaded.
    const b = withModelLeases(async () => (await cache.get('rare-b')).id);
    await flush();
    assert.deepEqual(log, ['load hot', 'load rare-a']);
    holdA.resolve();
    await a;
    assert.equal(await b, 'rare-b');
    await flush();
    assert.deepEqual(log, ['load hot', 'load rare-a', 'unload rare-a', 'load rare-b', 'unload rare-b']);
    // One call that needs two served-only models at once gets both (waiting would wait for itself).
    const both = await withModelLeases(async () => {
      const x = await cache.get('rare-c');
      const y = await cache.get('rare-d');
      return [x.id, y.id];
    });
    assert.deepEqual(both, ['rare-c', 'rare-d']);
    await flush();
    assert.equal(cache.stats().resident, 1);
    assert.equal(cache.stats().peakResident, 3, 'hot + rare-c + rare-d, only in the one call that held two');
  });

  it('runs loads one at a time', async () => {
    let running = 0;
    let most = 0;
    const cache = new ModelCache(
      async (id: string) => {
        most = Math.max(most, ++running);
        await flush();
        running--;
        return { id };
      },
      { maxNumModelsPerReplica: 4, admission: 'lru' },
    );
    await Promise.all(['a', 'b', 'c', 'd'].map((id) => cache.get(id)));
    assert.equal(most, 1);
    assert.deepEqual(cache.ids().sort(), ['a', 'b', 'c', 'd']);
  });

  it('the ONNX repository takes admission from bind() and names a bad value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repo-admission-'));
    try {
      const lru = new OnnxRepository({ repository: dir, admission: 'lru' });
      await lru.init();
      assert.equal(modelCacheOf(lru, '_load').admission, 'lru');
      const byDefault = new OnnxRepository({ repository: dir });
      await byDefault.init();
      assert.equal(modelCacheOf(byDefault, '_load').admission, 'frequency');
      const bad = new OnnxRepository({ repository: dir, admission: 'random' as never });
      await assert.rejects(bad.init(), /admission must be one of "frequency", "lru", got "random"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
