import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';
import { BatchQueue, batch, batchQueueOf, resolveBatchOptions } from '../../runtime/worker/batching.ts';
import type { Batch, PerItem } from '../../runtime/worker/batching.ts';
import { FakeClock, flush } from '../fixtures/fake-clock.ts';
import { deferred } from '../fixtures/deferred.ts';

/** A promise the test settles by hand, to hold a batch "running". */
/** Records every batch and answers each item with `item * 10`. */
function recorder() {
  const batches: number[][] = [];
  const handler = (items: number[]) => {
    batches.push([...items]);
    return items.map((x) => x * 10);
  };
  return { batches, handler };
}

describe('BatchQueue', () => {
  it('runs a full batch at once, without waiting for the timeout', async () => {
    const clock = new FakeClock();
    const { batches, handler } = recorder();
    const q = new BatchQueue(handler, { maxBatchSize: 3, batchWaitTimeoutS: 10 }, clock);
    const results = [1, 2, 3].map((x) => q.submit(x));
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.deepEqual(await Promise.all(results), [10, 20, 30]);
    assert.equal(clock.pendingTimers, 0, 'no timer left behind');
  });

  it('runs a partial batch when batchWaitTimeoutS has passed since its first item', async () => {
    const clock = new FakeClock();
    const { batches, handler } = recorder();
    const q = new BatchQueue(handler, { maxBatchSize: 5, batchWaitTimeoutS: 0.01 }, clock);
    const a = q.submit(1);
    clock.advance(4);
    const b = q.submit(2); // joins the same batch; the deadline stays 10 ms after item 1
    clock.advance(5);
    assert.deepEqual(batches, []);
    clock.advance(1);
    assert.deepEqual(batches, [[1, 2]]);
    assert.deepEqual(await Promise.all([a, b]), [10, 20]);
  });

  it('groups calls made in the same turn even with a zero timeout', async () => {
    const clock = new FakeClock();
    const { batches, handler } = recorder();
    const q = new BatchQueue(handler, { maxBatchSize: 10, batchWaitTimeoutS: 0 }, clock);
    const all = Promise.all([q.submit(1), q.submit(2), q.submit(3)]);
    assert.deepEqual(batches, [], 'a partial batch never runs inside submit()');
    clock.advance(0);
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.deepEqual(await all, [10, 20, 30]);
  });

  it('keeps arrival order and gives each caller its own result, across batches', async () => {
    const clock = new FakeClock();
    const seen: string[][] = [];
    const q = new BatchQueue(
      async (items: string[]) => {
        seen.push(items);
        await flush(); // answer later, so results are matched by position, not timing
        return items.map((s) => s.toUpperCase());
      },
      { maxBatchSize: 2, maxConcurrentBatches: 3 },
      clock,
    );
    const words = ['a', 'b', 'c', 'd', 'e'];
    const out = Promise.all(words.map((w) => q.submit(w)));
    clock.advance(10);
    assert.deepEqual(await out, ['A', 'B', 'C', 'D', 'E']);
    assert.deepEqual(seen, [['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('rejects only the caller whose slot holds an Error', async () => {
    const clock = new FakeClock();
    const q = new BatchQueue((items: number[]) => items.map((x) => (x < 0 ? new RangeError(`negative input ${x}`) : Math.sqrt(x))), { maxBatchSize: 3 }, clock);
    const [a, b, c] = await Promise.allSettled([q.submit(4), q.submit(-1), q.submit(9)]);
    assert.deepEqual(a, { status: 'fulfilled', value: 2 });
    assert.equal(b.status, 'rejected');
    assert.match((b as PromiseRejectedResult).reason.message, /negative input -1/);
    assert.deepEqual(c, { status: 'fulfilled', value: 3 });
  });

  it('fails the whole batch when the handler throws or rejects', async () => {
    const clock = new FakeClock();
    const boom = new Error('model crashed');
    const sync = new BatchQueue<number, number>(
      () => {
        throw boom;
      },
      { maxBatchSize: 2 },
      clock,
    );
    const r1 = await Promise.allSettled([sync.submit(1), sync.submit(2)]);
    assert.deepEqual(
      r1.map((r) => r.status === 'rejected' && r.reason),
      [boom, boom],
    );
    const later = new BatchQueue<number, number>(async () => Promise.reject(boom), { maxBatchSize: 2 }, clock);
    const r2 = await Promise.allSettled([later.submit(1), later.submit(2)]);
    assert.deepEqual(
      r2.map((r) => r.status === 'rejected' && r.reason),
      [boom, boom],
    );
    // The queue keeps working after a failed batch.
    const ok = new BatchQueue((xs: number[]) => xs, { maxBatchSize: 1 }, clock);
    assert.equal(await ok.submit(7), 7);
  });

  it('fails every item with a clear error when the result count is wrong', async () => {
    const clock = new FakeClock();
    const short = new BatchQueue((items: number[]) => items.slice(1), { maxBatchSize: 3 }, clock, 'predict()');
    const r = await Promise.allSettled([short.submit(1), short.submit(2), short.submit(3)]);
    for (const x of r) {
      assert.equal(x.status, 'rejected');
      const err = (x as PromiseRejectedResult).reason;
      assert.equal(err.code, 'BATCH_RESULT_COUNT');
      assert.match(err.message, /^predict\(\) returned 2 results for a batch of 3 items; .*exactly one result per item/);
    }
    const notArray = new BatchQueue((() => 42) as never, { maxBatchSize: 1 }, clock);
    await assert.rejects(notArray.submit(1), /returned number for a batch of 1 items/);
  });

  it('runs at most maxConcurrentBatches at once; a waiting batch keeps filling', async () => {
    const clock = new FakeClock();
    const running: Array<{ items: number[]; done: ReturnType<typeof deferred<number[]>> }> = [];
    const q = new BatchQueue(
      (items: number[]) => {
        const done = deferred<number[]>();
        running.push({ items, done });
        return done.promise;
      },
      { maxBatchSize: 3, batchWaitTimeoutS: 0.01, maxConcurrentBatches: 1 },
      clock,
    );
    const first = [1, 2, 3].map((x) => q.submit(x));
    const second = [4, 5].map((x) => q.submit(x));
    clock.advance(50); // long past the second batch's timeout, but one batch is running
    assert.deepEqual(
      running.map((r) => r.items),
      [[1, 2, 3]],
    );
    second.push(q.submit(6)); // fills the waiting batch to maxBatchSize
    const third = q.submit(7); // the next one after it
    assert.deepEqual(q.stats(), { pending: 4, running: 1, batches: 1, items: 3 });
    running[0]!.done.resolve([1, 2, 3]);
    await flush();
    assert.deepEqual(
      running.map((r) => r.items),
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
    );
    // Item 7 arrived at t=50, so its batch is due at t=60; at t=60 the one slot is still taken.
    clock.advance(10);
    assert.equal(running.length, 2);
    running[1]!.done.resolve([4, 5, 6]);
    await flush();
    // Already due when the slot frees: it starts at once, with no further wait.
    assert.deepEqual(
      running.map((r) => r.items),
      [[1, 2, 3], [4, 5, 6], [7]],
    );
    running[2]!.done.resolve([7]);
    assert.deepEqual(await Promise.all([...first, ...second, third]), [1, 2, 3, 4, 5, 6, 7]);

    // With two slots, two full batches run side by side.
    const two = new BatchQueue(
      (items: number[]) => {
        const done = deferred<number[]>();
        running.push({ items, done });
        return done.promise;
      },
      { maxBatchSize: 2, maxConcurrentBatches: 2 },
      clock,
    );
    running.length = 0;
    [1, 2, 3, 4, 5, 6].forEach((x) => void two.submit(x).catch(() => {}));
    assert.deepEqual(
      running.map((r) => r.items),
      [
        [1, 2],
        [3, 4],
      ],
    );
    assert.equal(two.stats().running, 2);
  });

  it('setters apply to the next batch and validate their input', async () => {
    const clock = new FakeClock();
    const started: number[][] = [];
    const gate = deferred<void>();
    const q = new BatchQueue(
      async (items: number[]) => {
        started.push(items);
        await gate.promise;
        return items;
      },
      { maxBatchSize: 2, batchWaitTimeoutS: 0.01 },
      clock,
    );
    const a = [1, 2].map((x) => q.submit(x)); // running with size 2
    q.setMaxBatchSize(4);
    q.setBatchWaitTimeoutS(0.05);
    assert.equal(q.options.maxBatchSize, 4);
    const b = [3, 4, 5].map((x) => q.submit(x));
    gate.resolve();
    await Promise.all(a);
    await flush();
    assert.deepEqual(started, [[1, 2]], 'partial batch of 3 waits for the new 50 ms timeout');
    clock.advance(49);
    assert.equal(started.length, 1);
    clock.advance(1);
    assert.deepEqual(started, [
      [1, 2],
      [3, 4, 5],
    ]);
    await Promise.all(b);

    // Lowering maxBatchSize below what is waiting starts full batches at once.
    const c = [6, 7, 8].map((x) => q.submit(x));
    q.setMaxBatchSize(1);
    assert.deepEqual(started.slice(2), [[6]]);
    q.setMaxConcurrentBatches(3);
    assert.deepEqual(started.slice(2), [[6], [7], [8]]);
    await Promise.all(c);

    assert.throws(() => q.setMaxBatchSize(0), { code: 'INVALID_OPTIONS', message: 'maxBatchSize must be a positive integer, got 0' });
    assert.throws(() => q.setMaxBatchSize(2.5), /maxBatchSize must be a positive integer, got 2.5/);
    assert.throws(() => q.setBatchWaitTimeoutS(-1), /batchWaitTimeoutS must be a finite number of seconds >= 0, got -1/);
    assert.throws(() => q.setBatchWaitTimeoutS(Number.NaN), /got NaN/);
    assert.throws(() => q.setMaxConcurrentBatches('2' as never), /maxConcurrentBatches must be a positive integer, got "2"/);
    assert.equal(q.options.maxBatchSize, 1, 'a rejected value changes nothing');
  });

  it('validates options, defaults to Ray Serve values, rejects unknown keys', () => {
    assert.deepEqual(resolveBatchOptions(), { maxBatchSize: 10, batchWaitTimeoutS: 0.01, maxConcurrentBatches: 1 });
    assert.throws(() => new BatchQueue((x: number[]) => x, { maxBatchSize: 0 }), {
      message: 'maxBatchSize must be a positive integer, got 0',
    });
    assert.throws(() => resolveBatchOptions({ maxBatchsize: 4 } as never, '@batch predict()'), {
      message: '@batch predict(): unknown batch option "maxBatchsize" (known: maxBatchSize, batchWaitTimeoutS, maxConcurrentBatches)',
    });
    assert.throws(() => resolveBatchOptions({ batchWaitTimeoutS: Infinity }), /batchWaitTimeoutS must be a finite number/);
  });

  it("runs the handler in its first caller's async context, however the batch was started", async () => {
    const clock = new FakeClock();
    const who = new AsyncLocalStorage<string>();
    const gate = deferred<void>();
    const seen: Array<string | undefined> = [];
    const q = new BatchQueue(
      async (items: number[]) => {
        seen.push(who.getStore());
        if (seen.length === 1) await gate.promise;
        return items;
      },
      { maxBatchSize: 2 },
      clock,
    );
    const a = who.run('A', () => Promise.all([q.submit(1), q.submit(2)])); // full: starts in submit
    const b = who.run('B', () => q.submit(3)); // waits for the slot, started by batch 1 ending
    const c = who.run('C', () => q.submit(4));
    gate.resolve();
    await Promise.all([a, b, c]);
    const d = who.run('D', () => q.submit(5)); // started by the timer
    clock.advance(10);
    await d;
    assert.deepEqual(seen, ['A', 'B', 'D']);
  });

  it('reports each batch size to onBatch listeners', async () => {
    const clock = new FakeClock();
    const sizes: number[] = [];
    const q = new BatchQueue((xs: number[]) => xs, { maxBatchSize: 2 }, clock);
    const off = q.onBatch((n) => sizes.push(n));
    await Promise.all([q.submit(1), q.submit(2)]);
    const last = q.submit(3);
    clock.advance(10);
    await last;
    off();
    await Promise.all([q.submit(4), q.submit(5)]);
    assert.deepEqual(sizes, [2, 1]);
  });
});

describe('@batch decorator and batch() function form', () => {
  it('turns a batch method into a per-item method with one queue per instance', async () => {
    const clock = new FakeClock();
    class Model {
      calls: number[][] = [];
      constructor(readonly scale: number) {}
      @batch({ maxBatchSize: 2, batchWaitTimeoutS: 0.005, clock })
      async predict(items: Batch<number>): Promise<Array<number | Error>> {
        this.calls.push([...items]);
        return items.map((x) => (x === 13 ? new Error('unlucky') : x * this.scale));
      }
      plain(x: number): number {
        return x;
      }
    }
    const m1 = new Model(10);
    const m2 = new Model(100);
    // What a handle sees: PerItem makes the per-item signature type-check.
    const predict1 = m1.predict.bind(m1) as unknown as PerItem<Model['predict']>;
    const predict2 = m2.predict.bind(m2) as unknown as PerItem<Model['predict']>;
    const r = Promise.allSettled([predict1(1), predict2(2), predict1(13), predict1(4)]);
    assert.deepEqual(m1.calls, [[1, 13]], 'full batch for m1 ran at once');
    assert.deepEqual(m2.calls, []);
    clock.advance(5);
    const settled = await r;
    assert.deepEqual(m1.calls, [[1, 13], [4]]);
    assert.deepEqual(m2.calls, [[2]]);
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason.message)),
      [10, 200, 'unlucky', 40],
    );

    // reconfigure() reaches the queue by method name, even before the first call.
    const m3 = new Model(1);
    batchQueueOf(m3, 'predict').setMaxBatchSize(1);
    assert.equal(await (m3.predict as unknown as PerItem<Model['predict']>).call(m3, 5), 5);
    assert.deepEqual(m3.calls, [[5]]);
    assert.throws(() => batchQueueOf(m3, 'plain'), /plain is not a batched method/);
    const unbound = m3.predict as unknown as (x: number) => Promise<number>;
    await assert.rejects(unbound(1), /predict\(\) is a batched method: call it on its instance/);
  });

  it('checks decorator options when the class is defined', () => {
    assert.throws(
      () => {
        class Bad {
          @batch({ maxBatchSize: 0 })
          async predict(items: number[]) {
            return items;
          }
        }
        return Bad;
      },
      { message: '@batch predict(): maxBatchSize must be a positive integer, got 0' },
    );
  });

  it('function form: a typed per-item method over a batch function', async () => {
    const clock = new FakeClock();
    const embedMany = batch(
      async function (this: Embedder, texts: string[]) {
        this.batches++;
        return texts.map((t) => t.length + this.offset);
      },
      { maxBatchSize: 3, batchWaitTimeoutS: 0.002, clock },
    );
    class Embedder {
      batches = 0;
      offset = 1;
      embed(text: string): Promise<number> {
        return embedMany.call(this, text);
      }
    }
    const e = new Embedder();
    const all = Promise.all([e.embed('a'), e.embed('bb')]);
    clock.advance(2);
    assert.deepEqual(await all, [2, 3]);
    assert.equal(e.batches, 1);
    assert.equal(batchQueueOf(e, embedMany).stats().batches, 1);
  });

  it('PerItem maps only Batch<X>-typed methods (type-level)', () => {
    type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
    const check = <T extends true>(): T | undefined => undefined;
    check<Equal<PerItem<(items: Batch<string>) => Promise<Array<number | Error>>>, (item: string) => Promise<number>>>();
    check<Equal<PerItem<(items: Batch<string>) => number[]>, (item: string) => Promise<number>>>();
    check<Equal<PerItem<(items: string[]) => Promise<number[]>>, (items: string[]) => Promise<number[]>>>();
    check<Equal<PerItem<(a: string, b: number) => void>, (a: string, b: number) => void>>();
    check<Equal<PerItem<() => void>, () => void>>();
  });
});
