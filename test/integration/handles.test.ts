// Handles, routing limits, transfer and errors, through real worker threads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackpressureError, BadCallError, HttpError, RemoteError, bind, serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { Bottleneck } from '../fixtures/backpressure.ts';
import { Configurable, Echo, Slow, Throws } from '../fixtures/deployments.ts';

describe('handles to deployments in worker threads', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run(
      {
        echo: bind(Echo),
        slow: bind(Slow),
        throws: bind(Throws),
        bottleneck: bind(Bottleneck),
        configurable: bind(Configurable),
      },
      { listen: false, logLevel: 'silent' },
    );
  });
  after(() => s.close());

  it('calls a method and keeps state per replica, each replica its own thread', async () => {
    const echo = s.handle<Echo>('Echo');
    assert.deepEqual(await echo.echo({ a: [1, 2] }), { a: [1, 2] });
    await Promise.all(Array.from({ length: 40 }, (_, i) => echo.echo(i)));
    const counts = await Promise.all(Array.from({ length: 20 }, () => echo.count()));
    const threads = new Set(counts.map((c) => c.thread));
    const replicas = new Set(counts.map((c) => c.replica));
    assert.equal(threads.size, 2, 'two replicas run on two threads');
    assert.deepEqual([...replicas].sort(), ['Echo#0', 'Echo#1']);
  });

  it('never runs more than maxOngoingRequests calls at once in a replica', async () => {
    const slow = s.handle<Slow>('Slow');
    const results = await Promise.all(Array.from({ length: 8 }, () => slow.wait(30)));
    const maxSeen = Math.max(...results.map((r) => r.maxSeen));
    assert.equal(maxSeen, 2);
  });

  it('fails at once with a backpressure error past maxQueuedRequests', async () => {
    const b = s.handle<Bottleneck>('Bottleneck');
    const running = b.hold(200);
    const queued = b.hold(10);
    const t0 = performance.now();
    await assert.rejects(b.hold(10), (err: unknown) => {
      assert.ok(err instanceof BackpressureError);
      assert.equal(err.code, 'BACKPRESSURE');
      assert.equal(err.statusCode, 503);
      assert.match(err.message, /deployment "Bottleneck" is overloaded/);
      return true;
    });
    assert.ok(performance.now() - t0 < 100, 'rejected without waiting');
    assert.equal(await running, 'held');
    assert.equal(await queued, 'held');
  });

  it('moves typed arrays to the replica instead of copying (the sender buffer is detached)', async () => {
    const echo = s.handle<Echo>('Echo');
    const data = new Float32Array(1 << 16).fill(2.5);
    const result = await echo.byteLength(data);
    assert.deepEqual(result, { type: 'Float32Array', byteLength: 1 << 18, first: 2.5 });
    assert.equal(data.byteLength, 0, 'the caller gave the buffer up');
    assert.equal(data.buffer.byteLength, 0);
  });

  it('copies, and does not detach, a view into a larger buffer', async () => {
    const echo = s.handle<Echo>('Echo');
    const big = new Float32Array(100).fill(1);
    const view = big.subarray(10, 20);
    assert.deepEqual(await echo.byteLength(view), { type: 'Float32Array', byteLength: 40, first: 1 });
    assert.equal(big.byteLength, 400);
  });

  it('returns typed arrays as typed arrays', async () => {
    const arr = await s.handle<Echo>('Echo').makeArray(1000);
    assert.ok(arr instanceof Float32Array);
    assert.equal(arr.length, 1000);
    assert.equal(arr[999], 1.5);
  });

  it('brings user errors back with name, message, code and stack', async () => {
    const t = s.handle<Throws>('Throws');
    await assert.rejects(t.plain(), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.name, 'ValidationProblem');
      assert.equal(err.message, 'bad things');
      assert.equal(err.code, 'E_VALIDATION');
      assert.match(err.stack ?? '', /fixtures\/deployments\.ts/);
      return true;
    });
    await assert.rejects(t.rejects(), { name: 'TypeError', message: 'async failure', code: 'USER_ERROR' });
    await assert.rejects(t.http(418), (err: unknown) => err instanceof HttpError && err.statusCode === 418);
  });

  it('rejects unknown methods and values that cannot cross threads', async () => {
    const t = s.handle<Throws>('Throws');
    await assert.rejects((t as unknown as { nope(): Promise<void> }).nope(), (err: unknown) => {
      assert.ok(err instanceof BadCallError);
      assert.match(err.message, /deployment "Throws" has no method "nope"/);
      return true;
    });
    await assert.rejects(t.returnsFunction(), /cannot be sent between threads/);
    await assert.rejects(
      s.handle<Echo>('Echo').echo(() => 1),
      /cannot be sent between threads/,
    );
    assert.throws(() => s.handle('Nope'), /no deployment named "Nope"/);
  });

  it('is not a thenable, so it can be awaited and returned from async functions', async () => {
    const h = s.handle<Echo>('Echo');
    assert.equal(await h, h);
  });

  it('applies userConfig at start and on reconfigure', async () => {
    const c = s.handle<Configurable>('Configurable');
    assert.equal(await c.scale(3), 6);
    await s.reconfigure('Configurable', { factor: 10 });
    assert.equal(await c.scale(3), 30);
  });

  it('times out a call with a clear error', async () => {
    const slow = s.handle<Slow>('Slow').options({ timeoutS: 0.05 });
    await assert.rejects(slow.wait(300), { code: 'TIMEOUT', message: /Slow\.wait\(\) timed out after 0\.05s/ });
  });
});
