/**
 * One copy of a model per replica: a model evicted while a call uses it is reused, not loaded
 * again, by that call and by new calls, until it is unloaded. (The bug these pin down: a call
 * that fetched its model in a loop, with another model's call displacing it, loaded it three
 * times and held every copy until it ended.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWithModelId } from '../../runtime/worker/call-context.ts';
import { ModelCache, withModelLeases } from '../../runtime/worker/model-cache.ts';
import type { ModelAdmission } from '../../runtime/worker/model-cache.ts';
import { modelCacheOf, multiplexed } from '../../runtime/worker/multiplexed.ts';
import { multiplexedModelId } from '../../runtime/worker/call-context.ts';
import { flush } from '../fixtures/fake-clock.ts';
import { deferred } from '../fixtures/deferred.ts';

/** A call that takes model `id` from the cache and keeps it (its lease) until `release()`. */
function holdInCall<M>(cache: ModelCache<M>, id: string) {
  const hold = deferred();
  const done = withModelLeases(async () => {
    const m = await cache.get(id);
    await hold.promise;
    return m;
  });
  return { release: () => hold.resolve(), done };
}

interface Fake {
  id: string;
  copy: number;
}

/**
 * A cache over fake models (each load a new object) that logs loads and finished unloads, and
 * records the most copies of one id that were ever in memory together.
 */
function fakeCache(max: number, admission: ModelAdmission, unloadGate?: Promise<void>) {
  const log: string[] = [];
  const inMemory = new Map<string, number>();
  let mostCopies = 0;
  let copies = 0;
  const cache = new ModelCache<Fake>(
    async (id) => {
      log.push(`load ${id}`);
      const n = (inMemory.get(id) ?? 0) + 1;
      inMemory.set(id, n);
      mostCopies = Math.max(mostCopies, n);
      return { id, copy: ++copies };
    },
    {
      maxNumModelsPerReplica: max,
      admission,
      unload: async (m, id) => {
        await unloadGate;
        inMemory.set(id, (inMemory.get(id) ?? 0) - 1);
        log.push(`unload ${id}`);
      },
    },
  );
  return { cache, log, mostCopies: () => mostCopies };
}

describe('ModelCache keeps one copy of a model', () => {
  it('a call that fetches its model again after it was displaced gets the same copy (lru)', async () => {
    const { cache, log, mostCopies } = fakeCache(1, 'lru');
    const stepA = deferred();
    const stepB = deferred();
    const endA = deferred();
    const a = withModelLeases(async () => {
      const first = await cache.get('a');
      await stepA.promise; // b loads meanwhile and takes the only slot
      const again = await cache.get('a');
      await endA.promise;
      return [first, again, await cache.get('a')];
    });
    await flush();
    const b = withModelLeases(async () => {
      const first = await cache.get('b');
      await stepB.promise;
      return [first, await cache.get('b')];
    });
    await flush();
    assert.deepEqual(log, ['load a', 'load b']);
    stepA.resolve();
    await flush();
    stepB.resolve();
    const [b1, b2] = await b;
    assert.equal(b1, b2, 'b, displaced by a while b used it, is the same copy');
    endA.resolve();
    const [a1, a2, a3] = await a;
    assert.equal(a1, a2, 'the call gets back the copy it holds a lease on');
    assert.equal(a1, a3);
    await flush();
    assert.equal(mostCopies(), 1);
    // Taking a back into the cache (a hit, no load) displaced b, unloaded after its call.
    assert.deepEqual(log, ['load a', 'load b', 'unload b']);
    assert.deepEqual(cache.ids(), ['a']);
    assert.equal(cache.stats().loads, 2);
    assert.equal(cache.stats().resident, 1);
  });

  it('a new call for a model evicted while in use reuses it; lru caches it again', async () => {
    const { cache, log, mostCopies } = fakeCache(1, 'lru');
    const holder = holdInCall(cache, 'a');
    await flush();
    await cache.get('b'); // evicts a, still in use
    const again = await withModelLeases(() => cache.get('a'));
    await flush();
    assert.deepEqual(cache.ids(), ['a'], 'a is cached again, b (idle) evicted');
    assert.deepEqual(log, ['load a', 'load b', 'unload b']);
    holder.release();
    assert.equal(await holder.done, again);
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload b'], 'a stays: it is the cached model');
    assert.equal(mostCopies(), 1);
    // A get() outside any call takes an evicted, in-use model back too.
    const holder2 = holdInCall(cache, 'a');
    await flush();
    await cache.get('c');
    assert.equal(await cache.get('a'), again);
    holder2.release();
    await holder2.done;
    await flush();
    assert.deepEqual(log.slice(3), ['load c', 'unload c']);
    assert.deepEqual(cache.ids(), ['a']);
  });

  it('with frequency admission an evicted, in-use model that is not admitted is served as it is', async () => {
    const { cache, log, mostCopies } = fakeCache(1, 'frequency');
    const holder = holdInCall(cache, 'a');
    await flush();
    for (let i = 0; i < 3; i++) await cache.get('b'); // b is asked for more often: it takes the slot
    assert.deepEqual(cache.ids(), ['b']);
    const again = await withModelLeases(() => cache.get('a'));
    assert.deepEqual(cache.ids(), ['b'], 'a is not asked for often enough to displace b');
    assert.deepEqual(log, ['load a', 'load b']);
    holder.release();
    assert.equal(await holder.done, again);
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload a'], 'unloaded after its last user');
    assert.equal(mostCopies(), 1);
    assert.equal(cache.stats().resident, 1);
  });

  it('evicted twice while in use (cached again in between), a model is unloaded once', async () => {
    const { cache, log } = fakeCache(1, 'lru');
    const holder = holdInCall(cache, 'a');
    await flush();
    await cache.get('b'); // evicts a
    await cache.get('a'); // a back, b evicted
    await cache.get('c'); // a evicted again
    holder.release();
    await holder.done;
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload b', 'load c', 'unload a']);
    assert.equal(cache.stats().resident, 1);
    await cache.clear();
    assert.deepEqual(log.slice(-1), ['unload c']);
  });

  it('a model whose previous copy is being unloaded loads after that unload', async () => {
    const gate = deferred();
    const { cache, log, mostCopies } = fakeCache(2, 'lru', gate.promise);
    await cache.get('a');
    const cleared = cache.clear(); // a's unload starts and waits on the gate
    const again = cache.get('a');
    await flush();
    assert.deepEqual(log, ['load a'], 'no second copy while the first is still in memory');
    gate.resolve();
    await cleared;
    await again;
    assert.deepEqual(log, ['load a', 'unload a', 'load a']);
    assert.equal(mostCopies(), 1);
  });

  it('@multiplexed: a call fetching its model in a loop, with another model’s call running, loads each once', async () => {
    const history: string[] = [];
    class Words {
      @multiplexed({ maxNumModelsPerReplica: 1, admission: 'lru' })
      async _load(id: string) {
        history.push(`load ${id}`);
        return { id, release: () => void history.push(`unload ${id}`) };
      }
      async words(n: number, turn: () => Promise<void>) {
        const seen = new Set<object>();
        for (let i = 0; i < n; i++) {
          await turn();
          seen.add(await this._load(multiplexedModelId()!));
        }
        return seen.size;
      }
    }
    const w = new Words();
    // The two calls take turns: each fetch of one runs between two fetches of the other.
    const tick = () => flush();
    const call = (id: string, n: number) => withModelLeases(() => runWithModelId(id, () => w.words(n, tick)));
    const [copiesOfA, copiesOfB] = await Promise.all([call('a', 8), call('b', 2)]);
    assert.equal(copiesOfA, 1);
    assert.equal(copiesOfB, 1);
    await flush();
    assert.deepEqual(
      history.filter((e) => e.startsWith('load')),
      ['load a', 'load b'],
    );
    assert.deepEqual(history, ['load a', 'load b', 'unload b']);
    assert.deepEqual(modelCacheOf(w, '_load').ids(), ['a']);
  });
});
