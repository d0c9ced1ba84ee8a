// Model loads off the serving path: a replica whose thread is blocked by a model load gets no
// warm calls meanwhile, whether they come through the main thread's router or a direct link.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bind, serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { BlockingLoads, LoadsCaller, RELEASE, STARTED } from '../fixtures/blocking-loads.ts';

type Answer = { model: string; replica: string };

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let t0 = performance.now(); !cond(); await sleep(5)) {
    if (performance.now() - t0 > 20_000) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Fails instead of hanging when a call waits behind the blocked load. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, sleep(15_000).then(() => Promise.reject(new Error(`${what} waited behind the blocked load`)))]);
}

describe('routing around replicas that are loading a model', () => {
  let s: ServeInstance;
  const gate = new Int32Array(new SharedArrayBuffer(8));
  before(async () => {
    const target = bind(BlockingLoads, gate.buffer as SharedArrayBuffer);
    s = await serve.run({ target, caller: bind(LoadsCaller, target) }, { listen: false, logLevel: 'silent' });
  });
  after(async () => {
    Atomics.store(gate, RELEASE, 1);
    Atomics.notify(gate, RELEASE);
    await s.close();
  });

  const burst = (call: (id: string) => Promise<Answer>, id: string) => Promise.all(Array.from({ length: 6 }, () => call(id)));

  /** Both replicas load model "w" (calls at once: once the holder is half busy, its idle peer takes some). */
  async function warmBoth(call: (id: string) => Promise<Answer>): Promise<void> {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      for (const a of await burst(call, 'w')) seen.add(a.replica);
    }
    assert.equal(seen.size, 2, 'both replicas hold model w');
  }

  async function check(call: (id: string) => Promise<Answer>, blockingId: string): Promise<void> {
    Atomics.store(gate, STARTED, 0);
    Atomics.store(gate, RELEASE, 0);
    await warmBoth(call);
    const cold = call(blockingId);
    await waitFor(() => Atomics.load(gate, STARTED) === 1, 'the blocking load to start');
    // Bursts: by in-flight counts alone (1 call on the loading replica) about half would go there.
    const answers: Answer[] = [];
    for (let i = 0; i < 4; i++) answers.push(...(await within(burst(call, 'w'), `warm burst ${i}`)));
    assert.equal(Atomics.load(gate, RELEASE), 0, 'every warm call was answered while the load still blocked its replica');
    Atomics.store(gate, RELEASE, 1);
    Atomics.notify(gate, RELEASE);
    const loaded = await cold;
    assert.equal(loaded.model, blockingId);
    for (const a of answers) {
      assert.equal(a.model, 'w');
      assert.notEqual(a.replica, loaded.replica, 'no warm call went to the loading replica');
    }
  }

  it('through the main thread: warm calls go to the holder that is not loading', async () => {
    const h = s.handle<BlockingLoads>('BlockingLoads');
    await check((id) => h.options({ multiplexedModelId: id }).predict(), 'blocking-main');
  });

  it("through a replica's direct links: the same", async () => {
    const caller = s.handle<LoadsCaller>('LoadsCaller');
    await check((id) => caller.predict(id), 'blocking-link');
  });
});
