// An ingress call that returns a stream answers chunked JSON lines, or Server-Sent Events when
// asked: chunks as produced, errors after the first chunk as a last line, a client that leaves
// cancels the generator, a client that does not read pauses it, and shutdown waits for streams.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { eventually } from '../fixtures/eventually.ts';
import { Tokens, streamApp } from '../fixtures/streams.ts';

interface Received {
  status: number;
  type: string;
  /** Each piece of the body as it arrived, with the ms since the request was sent. */
  pieces: Array<{ at: number; text: string }>;
  text: string;
}

async function post(url: string, body: unknown, accept = 'application/x-ndjson', signal?: AbortSignal): Promise<Received> {
  const t0 = Date.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body), signal });
  const pieces: Received['pieces'] = [];
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) pieces.push({ at: Date.now() - t0, text: decoder.decode(bytes) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', pieces, text: pieces.map((p) => p.text).join('') };
}

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

describe('streaming over HTTP', () => {
  let s: ServeInstance;
  let url: string;
  before(async () => {
    s = await serve.run({ streams: streamApp }, { port: 0, logLevel: 'silent', grpcPort: 0, dashboard: 'off' });
    url = `${s.url}/`;
  });
  after(() => s.close());

  it('answers JSON lines, the first before the last is produced', async () => {
    const r = await post(url, { n: 4, delayMs: 150 });
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/x-ndjson');
    assert.deepEqual(lines(r.text), [0, 1, 2, 3]);
    assert.ok(r.pieces.length >= 2, `the body came in ${r.pieces.length} pieces`);
    assert.ok(r.pieces[0]!.at < r.pieces.at(-1)!.at - 250, `first piece at ${r.pieces[0]!.at} ms, last at ${r.pieces.at(-1)!.at} ms`);
  });

  it('answers Server-Sent Events when the client accepts text/event-stream', async () => {
    const r = await post(url, { n: 3, mode: 'tens' }, 'text/event-stream');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/event-stream/);
    assert.equal(r.text, 'data: 0\n\ndata: 10\n\ndata: 20\n\nevent: end\ndata: {}\n\n');
  });

  it('ends with an error line after the first chunk, and answers an error status before it', async () => {
    const mid = await post(url, { mode: 'fail', k: 2 });
    assert.equal(mid.status, 200);
    const got = lines(mid.text);
    assert.deepEqual(got.slice(0, 2), [0, 1]);
    assert.deepEqual(got[2], { error: { code: 'E_BROKE', message: 'broke after 2 chunks' } });
    const sse = await post(url, { mode: 'fail', k: 1 }, 'text/event-stream');
    assert.match(sse.text, /^data: 0\n\nevent: error\ndata: \{"error":\{"code":"E_BROKE"/);
    const early = await post(url, { mode: 'fail', k: 0 });
    assert.equal(early.status, 500);
    assert.equal(early.type, 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(early.text), { error: { code: 'E_BROKE', message: 'broke after 0 chunks' } });
  });

  it('answers a call that does not stream with JSON whatever the client asked for', async () => {
    const r = await post(url, { mode: 'plain', n: 7 });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { n: 7 });
  });

  it('cancels the generator when the client disconnects', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const before = (await tokens.stats()).finallyRan;
    const abort = new AbortController();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 100_000, delayMs: 5 }),
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    abort.abort();
    await eventually('the generator was returned in the replica', async () => (await tokens.stats()).finallyRan > before);
    assert.equal((await tokens.stats()).open, 0);
  });

  it('pauses a fast producer while the client reads nothing (memory stays bounded)', async () => {
    const tokens = s.handle<Tokens>('Tokens');
    const before = (await tokens.stats()).produced;
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = JSON.stringify({ n: 1_000_000, mode: 'flood' });
    // A client that sends its request and never reads the answer.
    socket.pause();
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await sleep(1500);
    const first = (await tokens.stats()).produced - before;
    await sleep(1000);
    const second = (await tokens.stats()).produced - before;
    socket.destroy();
    // Socket buffers hold some chunks; beyond them the producer waits for credit.
    assert.ok(second < 20_000, `produced ${second} of 1,000,000 chunks (about 6 KB of JSON each) for a client that read nothing`);
    assert.equal(second, first, `the producer stopped (${first} after 1 s, ${second} after 2 s)`);
    await eventually('the disconnect cancelled the generator', async () => (await tokens.stats()).open === 0);
  });
});

describe('streaming at shutdown', () => {
  it('waits for open streams to finish', async () => {
    const s = await serve.run({ streams: streamApp }, { port: 0, logLevel: 'silent', grpcPort: 0, dashboard: 'off' });
    const res = await fetch(`${s.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 6, delayMs: 100 }) });
    // The headers came with the first chunk: the stream is being served when shutdown begins.
    const closed = s.close();
    const text = await res.text();
    await closed;
    assert.equal(res.status, 200);
    assert.deepEqual(lines(text), [0, 1, 2, 3, 4, 5], 'the stream ran to its end during shutdown');
  });

  it('cuts a stream still open at the graceful shutdown timeout', async () => {
    const s = await serve.run(
      { streams: streamApp },
      {
        port: 0,
        logLevel: 'silent',
        grpcPort: 0,
        dashboard: 'off',
        deploymentOptions: { Tokens: { gracefulShutdownTimeoutS: 1 }, Relay: { gracefulShutdownTimeoutS: 1 } },
      },
    );
    const res = await fetch(`${s.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 1000, delayMs: 20 }) });
    const reading = res.text().catch((e: Error) => e);
    const t0 = Date.now();
    await s.close();
    const waited = Date.now() - t0;
    assert.ok(waited >= 900 && waited < 5000, `close() waited ${waited} ms for a 1 s grace period`);
    const r = await reading;
    // The client sees the stream end early: a truncated body or a broken connection, never a hang.
    if (!(r instanceof Error)) assert.ok(r.split('\n').length < 1000, `read ${r.split('\n').length} of 1000 chunks`);
  });
});
