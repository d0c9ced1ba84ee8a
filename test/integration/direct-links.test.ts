// Handle calls between replicas go over direct links between the two threads, not through the
// main thread; limits, backpressure, errors, transfer, deaths and drain still hold.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { Caller, Counted, NarrowCaller, linkedApp, narrowApp } from '../fixtures/links.ts';

interface DeploymentStatus {
  name: string;
  requests: number;
  relayed: number;
  direct: number;
  replicas: Array<{ id: string; state: string }>;
}

async function status(s: ServeInstance, name: string): Promise<DeploymentStatus> {
  const r = await s.http.inject({ method: 'GET', url: '/-/status' });
  const d = (r.json() as { deployments: DeploymentStatus[] }).deployments.find((x) => x.name === name);
  assert.ok(d, `no deployment ${name} in /-/status`);
  return d;
}

describe('direct links between replicas', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run({ linked: linkedApp, narrow: narrowApp }, { listen: false, logLevel: 'silent' });
  });
  after(() => s.close());

  it('carries inner hops without the main thread relaying any call', async () => {
    const caller = s.handle<Caller>('Caller');
    const before = await status(s, 'Counted');
    // 4 at a time: below Counted's 2 x 3 slots, so no call has to wait in the main thread's queue.
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(...(await Promise.all(Array.from({ length: 4 }, () => caller.whoami()))));
    const after = await status(s, 'Counted');
    assert.equal(after.relayed - before.relayed, 0, 'the main thread relayed nothing');
    assert.equal(after.requests - before.requests, 0, 'no call to Counted passed the main router');
    assert.equal(after.direct - before.direct, 40, 'every call went over a direct link (reported by the callee)');
    assert.deepEqual([...new Set(seen)].sort(), ['Counted#0', 'Counted#1'], 'power of two choices spreads over both replicas');
  });

  it('never runs more than maxOngoingRequests in a replica, with three caller replicas at once', async () => {
    const caller = s.handle<Caller>('Caller');
    const before = await status(s, 'Counted');
    // 3 callers x 3 bursts x 8 calls, against 2 replicas x 3 slots.
    const results = (await Promise.all(Array.from({ length: 9 }, () => caller.burst(8, 20)))).flat();
    assert.equal(results.length, 72);
    assert.ok(
      results.every((r) => /^Counted#\d$/.test(r)),
      `every call answered: ${results.filter((r) => !/^Counted/.test(r)).join(',')}`,
    );
    const counted = s.handle<Counted>('Counted');
    const stats = new Map<string, number>();
    for (let i = 0; i < 40 && stats.size < 2; i++) {
      const st = await counted.stats();
      stats.set(st.replica, st.maxSeen);
    }
    assert.equal(stats.size, 2);
    for (const [replica, maxSeen] of stats) assert.ok(maxSeen <= 3, `${replica} ran ${maxSeen} calls at once (limit 3)`);
    assert.ok(
      [...stats.values()].some((m) => m === 3),
      'the limit was reached, so the test could have failed',
    );
    const after = await status(s, 'Counted');
    assert.ok(after.relayed > before.relayed, 'calls that found no room waited in the main thread queue');
    assert.ok(after.direct > before.direct, 'calls that found room went direct');
  });

  it('answers BACKPRESSURE for nested calls past maxQueuedRequests', async () => {
    const results = await s.handle<NarrowCaller>('NarrowCaller').burst(4, 100);
    assert.equal(results.filter((r) => r === 'held').length, 2, `one running, one queued: ${results}`);
    assert.equal(results.filter((r) => r === 'BACKPRESSURE').length, 2, `${results}`);
  });

  it('keeps error name, code, message and stack, and moves typed arrays both ways', async () => {
    const caller = s.handle<Caller>('Caller');
    const e = (await caller.error()) as { name: string; code: string; message: string; stackHasCallee: boolean };
    assert.deepEqual(e, { name: 'RangeError', code: 'E_RANGE', message: 'out of range on purpose', stackHasCallee: true });
    assert.deepEqual(await caller.send(1000), { length: 1000, first: 1.5, detachedHere: true });
    assert.deepEqual(await caller.receive(10), { type: 'Float32Array', length: 10, first: 2.5 });
  });

  it('answers BAD_CALL naming the path of a class instance in arguments or results, over links and from the main thread', async () => {
    const { sent, received } = await s.handle<Caller>('Caller').unfaithful();
    assert.match(sent as string, /^BAD_CALL: arguments to Counted\.echo\(\): args\[0\]: an instance of Point cannot cross threads faithfully/);
    assert.match(received as string, /^BAD_CALL: the result of a call to deployment "Counted": result\.at: an instance of Point/);
    await assert.rejects(s.handle<Counted>('Counted').point(), /result\.at: an instance of Point/);
  });

  it('fails the calls on a callee that dies with REPLICA_DIED, then links its replacement', async () => {
    const caller = s.handle<Caller>('Caller');
    const died = (await caller.crashTarget()) as { code: string; message: string };
    assert.equal(died.code, 'REPLICA_DIED');
    assert.match(died.message, /deployment "Counted": replica Counted#\d died/);
    let ids = new Set<string>();
    for (let i = 0; i < 100 && ![...ids].some((id) => /#[2-9]/.test(id)); i++) {
      await sleep(20);
      ids = new Set(await Promise.all(Array.from({ length: 8 }, () => caller.whoami())));
    }
    assert.ok(
      [...ids].some((id) => /#[2-9]/.test(id)),
      `the replacement answers: ${[...ids]}`,
    );
    const before = await status(s, 'Counted');
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) for (const id of await Promise.all(Array.from({ length: 4 }, () => caller.whoami()))) seen.add(id);
    const after = await status(s, 'Counted');
    assert.equal(after.relayed - before.relayed, 0, 'the replacement is reached over a direct link');
    assert.equal(seen.size, 2);
  });
});

describe('draining with calls in flight over direct links', () => {
  it('finishes every call before the threads stop', async () => {
    const s = await serve.run(linkedApp, { listen: false, logLevel: 'silent' });
    const caller = s.handle<Caller>('Caller');
    const calls = Array.from({ length: 12 }, () => caller.hold(200));
    await sleep(50);
    await s.close();
    const results = await Promise.allSettled(calls);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(12).fill('fulfilled'),
      `${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : '')).join(';')}`,
    );
  });
});
