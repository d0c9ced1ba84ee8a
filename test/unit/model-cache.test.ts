import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runWithModelId, setModelReporter } from '../../runtime/worker/call-context.ts';
import { ModelCache, defaultMaxConcurrentLoads, withModelLeases } from '../../runtime/worker/model-cache.ts';
import { modelPath, safeModelId } from '../../runtime/worker/model-repository.ts';
import { clearModelCaches, modelCacheOf, multiplexed, releaseModel } from '../../runtime/worker/multiplexed.ts';
import { flush } from '../fixtures/fake-clock.ts';
import { deferred } from '../fixtures/deferred.ts';

interface Fake {
  id: string;
}

/** A cache over fake models that logs loads and unloads in one timeline. */
function fakeCache(max: number, opts: { unload?: (m: Fake) => Promise<void> | void } = {}) {
  const log: string[] = [];
  const cache = new ModelCache<Fake>(
    async (id) => {
      log.push(`load ${id}`);
      return { id };
    },
    {
      maxNumModelsPerReplica: max,
      unload: async (m, id) => {
        assert.equal(m.id, id);
        log.push(`unload ${id}`);
        await opts.unload?.(m);
      },
    },
  );
  return { cache, log };
}

describe('ModelCache', () => {
  it('keeps least-recently-used order and evicts the LRU model, unloading it', async () => {
    const { cache, log } = fakeCache(3);
    for (const id of ['a', 'b', 'c']) await cache.get(id);
    assert.deepEqual(cache.ids(), ['c', 'b', 'a']);
    assert.equal((await cache.get('a')).id, 'a'); // a hit moves a to the front
    assert.deepEqual(cache.ids(), ['a', 'c', 'b']);
    await cache.get('d');
    assert.deepEqual(cache.ids(), ['d', 'a', 'c']);
    assert.deepEqual(log, ['load a', 'load b', 'load c', 'unload b', 'load d']);
    assert.deepEqual(cache.stats(), {
      hits: 1,
      misses: 4,
      admitted: 4,
      rejected: 0,
      loads: 4,
      evictions: 1,
      resident: 3,
      peakResident: 3,
      loadErrors: 0,
      unloadErrors: 0,
    });
    assert.equal(cache.has('b'), false);
  });

  it('waits for an idle victim to be unloaded before loading the new model', async () => {
    const gate = deferred();
    const { cache, log } = fakeCache(1, { unload: () => gate.promise });
    await cache.get('a');
    const b = cache.get('b');
    await flush();
    assert.deepEqual(log, ['load a', 'unload a'], 'b does not load while a is still being unloaded');
    gate.resolve();
    assert.equal((await b).id, 'b');
    assert.deepEqual(log, ['load a', 'unload a', 'load b']);
  });

  it('shares one load between concurrent requests for the same model', async () => {
    let loads = 0;
    const gate = deferred();
    const cache = new ModelCache(
      async (id: string) => {
        loads++;
        await gate.promise;
        return { id };
      },
      { maxNumModelsPerReplica: 2 },
    );
    const p1 = cache.get('m');
    const p2 = cache.get('m');
    assert.deepEqual(cache.ids(), [], 'a loading model is not listed as held');
    gate.resolve();
    const [m1, m2] = await Promise.all([p1, p2]);
    assert.equal(m1, m2);
    assert.equal(loads, 1);
    assert.deepEqual(cache.stats(), {
      hits: 1,
      misses: 1,
      admitted: 1,
      rejected: 0,
      loads: 1,
      evictions: 0,
      resident: 1,
      peakResident: 1,
      loadErrors: 0,
      unloadErrors: 0,
    });
  });

  it('does not cache a failed load: all waiters get the error, the next request retries', async () => {
    let attempt = 0;
    const gate = deferred();
    const cache = new ModelCache(
      async (id: string) => {
        attempt++;
        await gate.promise;
        if (attempt === 1) throw new Error(`cannot read ${id}`);
        return { id };
      },
      { maxNumModelsPerReplica: 2 },
    );
    const waiters = [cache.get('m'), cache.get('m'), cache.use('m', (x) => x)];
    gate.resolve();
    for (const r of await Promise.allSettled(waiters)) {
      assert.equal(r.status, 'rejected');
      assert.match((r as PromiseRejectedResult).reason.message, /cannot read m/);
    }
    assert.deepEqual(cache.ids(), []);
    assert.deepEqual(await cache.get('m'), { id: 'm' });
    assert.equal(attempt, 2);
    assert.equal(cache.stats().loadErrors, 1);
  });

  it('unloads an evicted model only after the call using it finishes (use)', async () => {
    const { cache, log } = fakeCache(1);
    const busy = deferred();
    const running = cache.use('a', async (m) => {
      await busy.promise;
      return m.id;
    });
    await flush();
    await cache.get('b'); // evicts a, and does not wait for a's user (no deadlock with a cap of 1)
    assert.deepEqual(cache.ids(), ['b']);
    assert.deepEqual(log, ['load a', 'load b'], 'a is evicted but not unloaded while in use');
    busy.resolve();
    assert.equal(await running, 'a');
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload a']);
  });

  it('pins models fetched with get() inside withModelLeases until that call ends', async () => {
    const { cache, log } = fakeCache(1);
    const busy = deferred();
    const call = withModelLeases(async () => {
      const m = await cache.get('a');
      await busy.promise;
      return m.id;
    });
    await flush();
    await cache.get('b');
    await flush();
    assert.deepEqual(log, ['load a', 'load b']);
    busy.resolve();
    assert.equal(await call, 'a');
    await flush();
    assert.deepEqual(log, ['load a', 'load b', 'unload a']);
    // Outside a lease scope nothing is pinned: eviction unloads at once.
    await cache.get('c');
    assert.deepEqual(log.slice(-2), ['unload b', 'load c']);
  });

  it('tells listeners when the set of loaded ids changes, not on reordering', async () => {
    const { cache } = fakeCache(2);
    const seen: string[][] = [];
    const off = cache.onChange((ids) => seen.push(ids));
    await cache.get('a');
    await cache.get('b');
    await cache.get('a');
    await cache.get('c');
    off();
    await cache.get('d');
    assert.deepEqual(seen, [['a'], ['b', 'a'], ['a'], ['c', 'a']]);
  });

  it('trims concurrent loads that overshoot the cap once they finish', async () => {
    const gates = new Map([
      ['a', deferred()],
      ['b', deferred()],
      ['c', deferred()],
    ]);
    const unloaded: string[] = [];
    const cache = new ModelCache(
      async (id: string) => {
        await gates.get(id)!.promise;
        return { id };
      },
      { maxNumModelsPerReplica: 2, unload: (_m, id) => void unloaded.push(id) },
    );
    const all = Promise.all(['a', 'b', 'c'].map((id) => cache.get(id)));
    for (const id of ['a', 'b', 'c']) {
      gates.get(id)!.resolve();
      await flush();
    }
    await all;
    await flush();
    assert.deepEqual(cache.ids(), ['c', 'b']);
    assert.deepEqual(unloaded, ['a']);
  });

  it('setMaxNumModelsPerReplica evicts down to a lower cap and validates; clear() unloads all', async () => {
    const { cache, log } = fakeCache(3);
    for (const id of ['a', 'b', 'c']) await cache.get(id);
    await cache.setMaxNumModelsPerReplica(1);
    assert.deepEqual(cache.ids(), ['c']);
    assert.deepEqual(log.slice(3), ['unload a', 'unload b']);
    assert.throws(() => new ModelCache(async () => 1, { maxNumModelsPerReplica: 0 }), {
      code: 'INVALID_OPTIONS',
      message: 'maxNumModelsPerReplica must be a positive integer, got 0',
    });
    await assert.rejects(cache.setMaxNumModelsPerReplica(1.5), /got 1.5/);
    await cache.clear();
    assert.deepEqual(cache.ids(), []);
    assert.deepEqual(log.slice(-1), ['unload c']);
  });

  it('counts unload errors and reports them without failing callers', async () => {
    const errors: string[] = [];
    const cache = new ModelCache(async (id: string) => ({ id }), {
      maxNumModelsPerReplica: 1,
      unload: () => {
        throw new Error('native free failed');
      },
      onUnloadError: (err, id) => errors.push(`${id}: ${(err as Error).message}`),
    });
    await cache.get('a');
    assert.deepEqual(await cache.get('b'), { id: 'b' });
    assert.deepEqual(errors, ['a: native free failed']);
    assert.equal(cache.stats().unloadErrors, 1);
  });
});

describe('@multiplexed decorator', () => {
  it('caches per instance, evicts LRU with release(), reports held ids, defaults the id', async () => {
    const reported: string[][] = [];
    setModelReporter((ids) => reported.push(ids));
    const released: string[] = [];
    class Forecast {
      loads: string[] = [];
      constructor(readonly region: string) {}
      @multiplexed({ maxNumModelsPerReplica: 2 })
      async getModel(modelId: string) {
        this.loads.push(modelId);
        return { name: `${this.region}/${modelId}`, release: () => void released.push(modelId), dispose: () => assert.fail('one unload method only') };
      }
      async predict() {
        return (await this.getModel(undefined as unknown as string)).name;
      }
    }
    const f = new Forecast('eu');
    assert.equal((await f.getModel('fr')).name, 'eu/fr');
    await f.getModel('de');
    await f.getModel('fr');
    await f.getModel('it'); // evicts de
    assert.deepEqual(f.loads, ['fr', 'de', 'it']);
    assert.deepEqual(released, ['de']);
    assert.deepEqual(modelCacheOf(f, 'getModel').ids(), ['it', 'fr']);
    assert.deepEqual(reported, [['fr'], ['de', 'fr'], ['fr'], ['it', 'fr']]);
    // Called without an id inside a call, it uses the call's multiplexed model id.
    assert.equal(await runWithModelId('fr', () => f.predict()), 'eu/fr');
    await assert.rejects(f.predict(), { code: 'MODEL_ID_REQUIRED', statusCode: 400 });
    // Another instance has its own cache; reconfigure reaches it by name.
    const g = new Forecast('us');
    await modelCacheOf(g, 'getModel').setMaxNumModelsPerReplica(1);
    await g.getModel('ca');
    await g.getModel('mx');
    assert.deepEqual(modelCacheOf(g, 'getModel').ids(), ['mx']);
    assert.deepEqual(modelCacheOf(f, 'getModel').ids(), ['fr', 'it'], 'predict() used fr last');
    await clearModelCaches(f);
    assert.deepEqual(released, ['de', 'ca', 'it', 'fr']);
    assert.throws(() => modelCacheOf(f, 'predict'), /predict is not a multiplexed method/);
    setModelReporter(() => undefined);
  });

  it('checks options when the class is defined; function form works too', async () => {
    assert.throws(
      () => {
        class Bad {
          @multiplexed({ maxNumModelsPerReplica: -1 })
          async getModel(id: string) {
            return id;
          }
        }
        return Bad;
      },
      { message: '@multiplexed getModel(): maxNumModelsPerReplica must be a positive integer, got -1' },
    );
    for (const bad of [0, 1.5, '2']) {
      assert.throws(() => multiplexed(async (id: string) => id, { maxConcurrentLoads: bad as number }), {
        code: 'INVALID_OPTIONS',
        message: /maxConcurrentLoads must be a positive integer, got (0|1\.5|"2")$/,
      });
    }
    assert.equal(defaultMaxConcurrentLoads(2), 1);
    assert.equal(defaultMaxConcurrentLoads(1), 1);
    assert.equal(defaultMaxConcurrentLoads(16), 8);
    const load = multiplexed(
      async function (this: { n: number }, id: string) {
        this.n++;
        return `${id}#${this.n}`;
      },
      { maxNumModelsPerReplica: 1 },
    );
    const self = { n: 0 };
    assert.equal(await load.call(self, 'x'), 'x#1');
    assert.equal(await load.call(self, 'x'), 'x#1');
    assert.equal(modelCacheOf(self, load).stats().hits, 1);
  });

  it('releaseModel calls the first of release, shutdown, dispose', async () => {
    const calls: string[] = [];
    await releaseModel({ shutdown: () => calls.push('shutdown'), dispose: () => calls.push('dispose') });
    await releaseModel({ dispose: async () => void calls.push('dispose') });
    await releaseModel(42);
    await releaseModel(null);
    assert.deepEqual(calls, ['shutdown', 'dispose']);
  });
});

describe('model ids and paths in a repository', () => {
  let base: string;
  let repo: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'ts-repo-'));
    repo = join(base, 'repo');
    await mkdir(join(repo, 'sub'), { recursive: true });
    await mkdir(join(base, 'outside'));
    await writeFile(join(repo, 'fr.onnx'), 'model');
    await writeFile(join(repo, 'v1.2_x-y.onnx'), 'model');
    await writeFile(join(base, 'outside', 'secret.onnx'), 'secret');
    await writeFile(join(base, 'repo.onnx'), 'sibling');
    await symlink(join(base, 'outside', 'secret.onnx'), join(repo, 'evil.onnx'));
    await symlink(join(repo, 'fr.onnx'), join(repo, 'alias.onnx'));
    await symlink(repo, join(base, 'linked-repo'));
  });
  after(() => rm(base, { recursive: true, force: true }));

  it('safeModelId accepts plain names and refuses everything else with a 404', () => {
    for (const ok of ['fr', 'v1.2_x-y', 'A', '0', 'a..b', 'x'.repeat(128)]) assert.equal(safeModelId(ok), ok);
    const bad: unknown[] = ['', '../x', '..', '.', '.hidden', '/etc/passwd', 'a/b', 'a\\b', 'x'.repeat(129), 'a b', 'nul\0', 'é', 7, null, undefined];
    for (const id of bad) {
      assert.throws(
        () => safeModelId(id),
        (err: { code?: string; statusCode?: number; message: string }) => {
          assert.equal(err.code, 'MODEL_NOT_FOUND');
          assert.equal(err.statusCode, 404);
          assert.match(err.message, /^model .+ not found: a model id is 1 to 128 letters/);
          return true;
        },
        `id ${String(id)}`,
      );
    }
    assert.throws(() => safeModelId('../x'), { message: /^model "\.\.\/x" not found/ });
    assert.throws(() => safeModelId('y'.repeat(200)), { message: /^model "y{64}\.\.\." not found/ });
  });

  it('modelPath resolves inside the repository and proves it', async () => {
    assert.equal(await modelPath(repo, 'fr'), join(repo, 'fr.onnx'));
    assert.equal(await modelPath(repo, 'v1.2_x-y'), join(repo, 'v1.2_x-y.onnx'));
    assert.equal(await modelPath(repo, 'sub', ''), join(repo, 'sub'), 'a directory model with ext ""');
    assert.equal(await modelPath(repo, 'alias'), join(repo, 'fr.onnx'), 'a link that stays inside is fine');
    assert.equal(await modelPath(join(base, 'linked-repo'), 'fr'), join(repo, 'fr.onnx'), 'the repository may itself be a link');
  });

  it('modelPath answers 404 for missing models, traversal and links leaving the repository', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['de', /^model "de" not found: no such model in the model repository$/],
      ['../repo', /^model "\.\.\/repo" not found: a model id/],
      ['../outside/secret', /not found: a model id/],
      [join(base, 'outside', 'secret'), /not found: a model id/],
      ['evil', /^model "evil" not found: it links outside the model repository$/],
    ];
    for (const [id, message] of cases) {
      await assert.rejects(modelPath(repo, id), (err: { code?: string; statusCode?: number; message: string }) => {
        assert.equal(err.code, 'MODEL_NOT_FOUND');
        assert.equal(err.statusCode, 404);
        assert.match(err.message, message);
        assert.ok(!err.message.includes(repo), 'the message does not reveal where the repository is');
        return true;
      });
    }
    await assert.rejects(modelPath(repo, 'fr', '/../x'), TypeError);
    await assert.rejects(modelPath(join(base, 'nope'), 'fr'), { code: 'ENOENT' });
  });
});
