// Deployment methods that are async generators stream through handles: chunks as they are
// produced, flow control, cancellation (the generator's return() runs in the replica and its
// slot is freed), deadlines, errors mid-stream, and a producer that dies.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { serve, ResponseStream } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { eventually } from '../fixtures/eventually.ts';
import { ModelWords, Relay, Tokens, modelWordsApp, streamApp } from '../fixtures/streams.ts';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('streaming through handles', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run({ streams: streamApp, words: modelWordsApp }, { listen: false, logLevel: 'silent' });
  });
  after(() => s.close());

  it('reads a generator with for await, or awaits it for a ResponseStream', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    assert.deepEqual(await collect(tokens.count(5)), [0, 1, 2, 3, 4]);
    const stream = await tokens.count(3);
    assert.ok(stream instanceof ResponseStream);
    assert.equal(stream.deployment, 'Tokens');
    assert.deepEqual(await collect(stream), [0, 1, 2]);
    assert.deepEqual(await collect(tokens.count(0)), []);
  });

  it('delivers the first chunk before the last is produced', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const t0 = Date.now();
    const at: number[] = [];
    for await (const _ of tokens.count(5, 80)) at.push(Date.now() - t0);
    assert.equal(at.length, 5);
    assert.ok(at[0]! < 250 && at[4]! >= 380, `chunks arrive as produced, at ${at.join(', ')} ms`);
  });

  it('pauses a fast producer after a bounded number of chunks while the consumer is slow', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const start = (await tokens.stats()).produced;
    const stream = await tokens.flood(10_000);
    await sleep(300);
    const ahead = (await tokens.stats()).produced - start;
    assert.ok(ahead > 0 && ahead <= 16, `produced ${ahead} chunks with none read (window 16)`);
    let read = 0;
    for await (const chunk of stream) {
      assert.ok(chunk.data instanceof Float32Array && chunk.data[0] === chunk.i, 'typed arrays arrive whole');
      if (++read === 100) break;
    }
    await sleep(100);
    const total = (await tokens.stats()).produced - start;
    assert.ok(total <= 100 + 16, `produced ${total} for 100 read`);
  });

  it('cancels the generator when the consumer stops early, and frees its slot', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const before = (await tokens.stats()).finallyRan;
    // maxOngoingRequests is 2: five abandoned streams in a row only work if each frees its slot.
    for (let i = 0; i < 5; i++) {
      for await (const t of tokens.count(1000, 5)) if (t === 2) break;
    }
    await eventually('every generator returned', async () => (await tokens.stats()).finallyRan - before === 5);
    assert.equal((await tokens.stats()).open, 0);
    const stream = await tokens.count(1000, 5);
    await stream.cancel();
    await eventually('cancel() returned the generator', async () => (await tokens.stats()).finallyRan - before === 6);
  });

  it('cancels a stream at its deadline (timeoutS) with TIMEOUT', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const before = (await tokens.stats()).finallyRan;
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const t of tokens.options({ timeoutS: 0.3 }).count(1000, 20)) got.push(t);
      },
      (e: Error & { code?: string }) => e.code === 'TIMEOUT' && /deadline/.test(e.message),
    );
    assert.ok(got.length > 3 && got.length < 30, `read ${got.length} chunks before the deadline`);
    await eventually('the generator was returned', async () => (await tokens.stats()).finallyRan > before);
  });

  it('passes an error thrown mid-stream to the consumer after the chunks before it', async () => {
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const t of s.handle<Tokens>('Tokens').failAfter(3)) got.push(t);
      },
      (e: Error & { code?: string }) => e.name === 'RangeError' && e.code === 'E_BROKE' && e.message === 'broke after 3 chunks',
    );
    assert.deepEqual(got, [0, 1, 2]);
  });

  it('fails a chunk that cannot cross threads with BAD_CALL naming it', async () => {
    const got: unknown[] = [];
    await assert.rejects(
      async () => {
        for await (const c of s.handle<Tokens>('Tokens').badChunk()) got.push(c);
      },
      (e: Error & { code?: string }) => e.code === 'BAD_CALL' && /chunk\.at: an instance of Point/.test(e.message),
    );
    assert.deepEqual(got, [1]);
  });

  it('says so when a method that does not stream is read with for await', async () => {
    await assert.rejects(
      async () => {
        for await (const _ of s.handle<Tokens>('Tokens').plain() as unknown as AsyncIterable<number>) void _;
      },
      (e: Error & { code?: string }) => e.code === 'BAD_CALL' && /Tokens\.plain\(\) did not return a stream/.test(e.message),
    );
  });

  it('streams through a replica that reads another deployment\u2019s stream, and cancels it upstream', async () => {
    const relay = s.handle<Relay>('Relay');
    assert.deepEqual(await collect(relay.tens(4)), [0, 10, 20, 30]);
    const tokens = s.handle<Tokens>('Tokens');
    const before = (await tokens.stats()).finallyRan;
    assert.deepEqual(await relay.firstThree(1000), [0, 1, 2]);
    await eventually('breaking out in the relay returned the generator in Tokens', async () => (await tokens.stats()).finallyRan > before);
    // Cancelling the outer stream reaches the inner generator too.
    const before2 = (await tokens.stats()).finallyRan;
    for await (const t of relay.tens(1000, 5)) if (t === 20) break;
    await eventually('cancelling the relay reached Tokens', async () => (await tokens.stats()).finallyRan > before2);
  });

  it('streams calls that waited in the main thread’s queue (relayed) like direct ones', async () => {
    const status = async () =>
      ((await s.http.inject({ url: '/-/status' })).json() as { deployments: Array<{ name: string; relayed: number }> }).deployments.find(
        (d) => d.name === 'Tokens',
      )!;
    const before = (await status()).relayed;
    // Tokens takes 2 streams at once; the other 3 wait in the queue, relayed by the main thread.
    assert.deepEqual(await s.handle<Relay>('Relay').concurrent(5, 5), [5, 5, 5, 5, 5]);
    assert.ok((await status()).relayed - before >= 3, 'calls that found no room went through the main thread');
  });

  it('hands a stream on whole: an ingress that returns a model\u2019s stream does not relay its chunks', async () => {
    const relay = s.handle<Relay>('Relay');
    const stream = (await relay.call({ n: 4 }, undefined as never)) as unknown as ResponseStream<number>;
    assert.ok(stream instanceof ResponseStream);
    assert.equal(stream.deployment, 'Tokens', 'the stream comes from Tokens itself, not from Relay');
    assert.deepEqual(await collect(stream), [0, 1, 2, 3]);
  });

  it('fails the stream with REPLICA_DIED when its producer dies, and the replacement serves', async () => {
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const t of s.handle<Tokens>('Tokens').dieAfter(2)) got.push(t);
      },
      (e: Error & { code?: string }) => e.code === 'REPLICA_DIED' && /Tokens/.test(e.message),
    );
    assert.deepEqual(got, [0, 1]);
    // The stream hears of the death (its channel closed) before the main thread does.
    await eventually('a replacement serves the stream', async () => {
      try {
        return (await collect(s.handle<Tokens>('Tokens').count(2))).join() === '0,1';
      } catch (e) {
        if ((e as { code?: string }).code === 'REPLICA_DIED') return false;
        throw e;
      }
    });
  });

  it('keeps a multiplexed stream’s model id and its model loaded until the stream ends', async () => {
    const words = s.handle<ModelWords>('ModelWords');
    const a = collect(words.options({ multiplexedModelId: 'a' }).words(8));
    await sleep(30);
    // Room for one model: b must not unload a while a's stream still reads it.
    const b = await collect(words.options({ multiplexedModelId: 'b' }).words(2));
    assert.deepEqual(b, ['b:0', 'b:1']);
    const whileStreaming = await words.history();
    assert.ok(whileStreaming.includes('load b'));
    assert.ok(!whileStreaming.includes('unload a'), `a stays loaded while its stream runs: ${whileStreaming.join(', ')}`);
    // The stream fetches a again after b displaced it: it gets its copy back, never a second one.
    assert.deepEqual(
      whileStreaming.filter((e) => e.startsWith('load')),
      ['load a', 'load b'],
      whileStreaming.join(', '),
    );
    assert.deepEqual(
      await a,
      Array.from({ length: 8 }, (_, i) => `a:${i}`),
      'every chunk saw its call\u2019s model id',
    );
  });
});
