// examples/stream served as a user runs it, and V2 models that stream: over REST (JSON lines,
// SSE) and over gRPC's ModelStreamInfer (one response per chunk, Triton's final flag).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import streamExample from '../../examples/stream/app.ts';
import { MODEL_PATH, trainedModel } from '../../examples/stream/train.ts';
import { Ticker, tickerApp } from '../fixtures/streams.ts';
import { v2GrpcClient } from '../fixtures/grpc-client.ts';
import type { V2GrpcClient } from '../fixtures/grpc-client.ts';

async function postLines(url: string, body: unknown, accept = 'application/x-ndjson') {
  const t0 = Date.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
  const arrivals: number[] = [];
  let text = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    arrivals.push(Date.now() - t0);
    text += decoder.decode(bytes);
  }
  return { status: res.status, type: res.headers.get('content-type'), text, arrivals };
}

const ndjson = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

describe('examples/stream: a character model generating text as a stream', () => {
  let s: ServeInstance;
  let grpc: V2GrpcClient;
  before(async () => {
    s = await serve.run({ generate: streamExample, ticker: tickerApp }, { port: 0, logLevel: 'silent', grpcPort: 0, dashboard: 'off' });
    grpc = v2GrpcClient(s.grpcAddress!);
  });
  after(async () => {
    grpc.close();
    await s.close();
  });

  it('ships the model its training gives, byte for byte', () => {
    assert.ok(readFileSync(MODEL_PATH).equals(trainedModel()), 'examples/stream/model/charlm.onnx is what train.ts writes');
  });

  it('streams characters one by one, the same text a non-streaming call answers', async () => {
    const body = { prompt: 'the harbour', maxTokens: 40, seed: 7 };
    const streamed = await postLines(`${s.url}/generate`, body);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.type, 'application/x-ndjson');
    const tokens = ndjson(streamed.text) as string[];
    assert.equal(tokens.length, 40);
    assert.ok(tokens.every((t) => typeof t === 'string' && t.length === 1));
    const whole = await fetch(`${s.url}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: false }),
    });
    assert.deepEqual(await whole.json(), { text: tokens.join('') });
    // Mostly letters and spaces, with words a reader recognises: the model learned the corpus.
    const again = await postLines(`${s.url}/generate`, { prompt: 'the ', maxTokens: 400, temperature: 0.5 });
    const text = (ndjson(again.text) as string[]).join('');
    const words = text.split(/[^a-z]+/).filter((w) => ['the', 'and', 'of', 'to', 'in'].includes(w));
    assert.ok(words.length >= 10, `common words in ${JSON.stringify(text)}`);
  });

  it('sends the first character long before the last', async () => {
    const r = await postLines(`${s.url}/generate`, { prompt: 'the sea', maxTokens: 8, delayMs: 60 });
    assert.equal((ndjson(r.text) as string[]).length, 8);
    assert.ok(r.arrivals.length >= 4, `arrived in ${r.arrivals.length} pieces`);
    assert.ok(r.arrivals[0]! + 250 < r.arrivals.at(-1)!, `first at ${r.arrivals[0]} ms, last at ${r.arrivals.at(-1)} ms`);
  });

  it('answers bad options with 400 naming the field', async () => {
    const res = await fetch(`${s.url}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x', temperature: -1 }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /temperature/);
  });

  it('streams a V2 model over REST as JSON lines or Server-Sent Events of V2 responses', async () => {
    const req = { id: 'r1', inputs: [{ name: 'n', datatype: 'INT32', shape: [1], data: [3] }] };
    const lines = await postLines(`${s.url}/v2/models/Ticker/infer`, req);
    assert.equal(lines.status, 200);
    assert.deepEqual(
      ndjson(lines.text),
      [0, 1, 2].map((i) => ({ model_name: 'Ticker', id: 'r1', outputs: [{ name: 'tick', datatype: 'INT32', shape: [1], data: [i] }] })),
    );
    const sse = await postLines(`${s.url}/v2/models/Ticker/infer`, req, 'text/event-stream');
    assert.match(sse.type ?? '', /^text\/event-stream/);
    assert.equal(sse.text.split('\n\n').filter((e) => e.startsWith('data: {"model_name"')).length, 3);
  });

  it('streams over gRPC ModelStreamInfer, one response per chunk with the final flag', async () => {
    const request = {
      model_name: 'TextGenerator',
      id: 'g1',
      inputs: [
        { name: 'prompt', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('the harbour')] } },
        { name: 'max_tokens', datatype: 'INT32', shape: [1], contents: { int_contents: [12] } },
      ],
    };
    const answers = await grpc.stream([request]);
    assert.equal(answers.length, 13, '12 tokens and the final flag');
    const final = (a: { infer_response: { parameters: Record<string, { bool_param: boolean }> } }) =>
      a.infer_response.parameters.triton_final_response?.bool_param;
    assert.deepEqual(answers.map(final), [...Array(12).fill(false), true]);
    assert.ok(answers.every((a) => a.infer_response.id === 'g1' && a.error_message === ''));
    const tokens = answers.slice(0, 12).map((a) => Buffer.from(a.infer_response.outputs[0].contents.bytes_contents[0]).toString());
    const http = await postLines(`${s.url}/generate`, { prompt: 'the harbour', maxTokens: 12 });
    assert.deepEqual(tokens, ndjson(http.text), 'the same tokens over gRPC and HTTP');
    await assert.rejects(
      grpc.call('ModelInfer', request),
      (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /ModelStreamInfer/.test(e.details),
    );
  });

  it('ends a gRPC stream that fails mid-way with its error, and cancels the generator when the client cancels', async () => {
    const answers = await grpc.stream([
      { model_name: 'Ticker', id: 'x', inputs: [{ name: 'n', datatype: 'INT32', shape: [1], contents: { int_contents: [20] } }] },
    ]);
    assert.equal(answers.length, 14, '13 ticks, then the error');
    assert.match(answers[13].error_message, /thirteen is unlucky/);
    const ticker = s.handle<Ticker>('Ticker');
    const before = (await ticker.stats()).finallyRan;
    const call = grpc.openStream();
    call.on('error', () => undefined);
    const got: unknown[] = [];
    call.on('data', (d: unknown) => got.push(d));
    call.write({
      model_name: 'Ticker',
      inputs: [
        { name: 'n', datatype: 'INT32', shape: [1], contents: { int_contents: [10] } },
        { name: 'delay_ms', datatype: 'INT32', shape: [1], contents: { int_contents: [100] } },
      ],
    });
    while (got.length < 2) await sleep(20);
    call.cancel();
    for (let i = 0; i < 100 && (await ticker.stats()).finallyRan === before; i++) await sleep(20);
    assert.equal((await ticker.stats()).finallyRan, before + 1, 'the generator was returned');
    assert.ok(got.length < 10, `stopped after ${got.length} ticks`);
  });
});
