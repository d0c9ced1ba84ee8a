// The router with fake replicas: limits, queueing order and backpressure, no threads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackpressureError } from '../../runtime/shared/errors.ts';
import { Router } from '../../runtime/main/router.ts';
import type { RoutableReplica } from '../../runtime/main/router.ts';
import { SlotTable } from '../../runtime/shared/slot-table.ts';

/** A replica on a slot of a real shared table; the test answers its calls by hand. */
class FakeReplica implements RoutableReplica {
  readonly calls: Array<{ method: string; args: unknown[]; resolve(v: unknown): void }> = [];
  constructor(
    readonly id: string,
    private readonly router: () => Router,
    private readonly table: SlotTable,
    private readonly slot: number,
  ) {
    table.open(slot, 1);
  }
  get inFlight() {
    return this.table.count(this.slot);
  }
  tryAcquire(max: number) {
    return this.table.tryAcquire(this.slot, 1, max);
  }
  readonly models = new Set<string>();
  expectModel() {}
  call(method: string, args: unknown[]) {
    return new Promise((resolve) => {
      this.calls.push({
        method,
        args,
        resolve: (v) => {
          this.table.release(this.slot, 1);
          resolve(v);
          this.router().pump();
        },
      });
    });
  }
}

function setup(maxOngoing: number, maxQueued: number, n = 1) {
  const table = SlotTable.create(8);
  const router: Router = new Router('D', maxOngoing, maxQueued, table, undefined, () => 0);
  const fakes = Array.from({ length: n }, (_, i) => new FakeReplica(`D#${i}`, () => router, table, i));
  for (const f of fakes) router.add(f);
  return { router, fakes, table };
}

describe('Router', () => {
  it('dispatches up to maxOngoing per replica and queues the rest in order', async () => {
    const { router, fakes } = setup(2, -1);
    const results = [1, 2, 3, 4].map((i) => router.call('m', [i]));
    assert.equal(fakes[0]!.calls.length, 2);
    assert.equal(router.queued, 2);
    fakes[0]!.calls[0]!.resolve('a');
    assert.equal(fakes[0]!.calls.length, 3);
    assert.deepEqual(fakes[0]!.calls[2]!.args, [3], 'FIFO');
    for (const c of fakes[0]!.calls.slice(1)) c.resolve('b');
    fakes[0]!.calls[3]!.resolve('c');
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'b', 'c']);
  });

  it('rejects at once past maxQueuedRequests', async () => {
    const { router } = setup(1, 1);
    void router.call('m', []);
    void router.call('m', []);
    await assert.rejects(router.call('m', []), (e: unknown) => e instanceof BackpressureError && /1 calls queued \(maxQueuedRequests 1\)/.test(e.message));
    assert.equal(router.stats.rejected, 1);
  });

  it('drops a queued call whose signal aborts; a call already on a replica is left to finish', async () => {
    const { router, fakes, table } = setup(1, -1);
    const running = new AbortController();
    const queued = new AbortController();
    const first = router.call('m', [1], {}, running.signal);
    const second = router.call('m', [2], {}, queued.signal);
    const third = router.call('m', [3]);
    assert.equal(router.queued, 2);
    queued.abort(new Error('client gave up'));
    await assert.rejects(second, /client gave up/);
    assert.equal(router.queued, 1);
    assert.equal(table.queued, 1, 'the published queue length follows');
    running.abort(new Error('too late'));
    fakes[0]!.calls[0]!.resolve('a');
    assert.equal(await first, 'a');
    assert.deepEqual(
      fakes[0]!.calls.map((c) => c.args),
      [[1], [3]],
      'the dropped call never reached the replica',
    );
    fakes[0]!.calls[1]!.resolve('c');
    assert.equal(await third, 'c');
    const aborted = AbortSignal.abort(new Error('already gone'));
    await assert.rejects(router.call('m', [4], {}, aborted), /already gone/);
  });

  it('maxQueuedRequests 0 means no queue at all', async () => {
    const { router } = setup(1, 0);
    void router.call('m', []);
    await assert.rejects(router.call('m', []), BackpressureError);
  });

  it('queues while no replica is up and drains the queue when one is added', async () => {
    const table = SlotTable.create(8);
    const router = new Router('D', 1, -1, table);
    const p = router.call('m', ['x']);
    assert.equal(router.queued, 1);
    assert.equal(table.queued, 1, 'the queue length is published to every caller');
    const f = new FakeReplica('D#0', () => router, table, 0);
    router.add(f);
    assert.equal(table.queued, 0);
    f.calls[0]!.resolve('done');
    assert.equal(await p, 'done');
  });

  it('counts calls admitted by other callers on the shared table against maxOngoing', async () => {
    const { router, fakes, table } = setup(2, -1);
    assert.ok(table.tryAcquire(0, 1, 2), 'another caller (a replica) takes one slot');
    void router.call('m', [1]);
    assert.equal(fakes[0]!.calls.length, 1);
    void router.call('m', [2]);
    assert.equal(fakes[0]!.calls.length, 1, 'the replica is at 2: the second call queues');
    assert.equal(router.queued, 1);
    table.release(0, 1);
    router.pump();
    assert.equal(fakes[0]!.calls.length, 2);
  });

  it('close() fails queued calls and refuses new ones; idle() resolves when drained', async () => {
    const { router, fakes } = setup(1, -1);
    const running = router.call('m', []);
    const queued = router.call('m', []);
    let idle = false;
    const idleP = router.idle().then(() => (idle = true));
    router.close(new Error('stopping'));
    await assert.rejects(queued, /stopping/);
    await assert.rejects(router.call('m', []), /shutting down/);
    assert.equal(idle, false);
    fakes[0]!.calls[0]!.resolve(1);
    assert.equal(await running, 1);
    await idleP;
    assert.equal(idle, true);
  });
});
