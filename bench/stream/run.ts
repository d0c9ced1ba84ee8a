/**
 * npm run bench:stream: what a stream costs, against the same work answered at once.
 *
 *  1. Time to first chunk: examples/stream generating 200 characters, streamed (time until
 *     the first character arrives) against the same request with `stream: false` (time until
 *     the whole answer arrives), sequential requests, p50 and p99.
 *  2. Server CPU per chunk: requests that stream 20,000 small numbers, against requests that
 *     answer one number, from the server process's CPU time (all threads, /proc):
 *     (CPU per streaming request - CPU per one-value request) / chunks. For a generator in the
 *     ingress replica (one thread hop to the HTTP response) and for one whose chunks another
 *     replica produces and the ingress re-yields (two hops).
 * The server runs in its own process (server.ts); this process is the client.
 */
import os from 'node:os';
import { startServer } from '../lib/proc.ts';
import type { Server } from '../lib/proc.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import { fmtNum, fmtRatio, mdTable, summarize, targetsTable } from '../lib/stats.ts';

const GENERATE = { prompt: 'the harbour wakes', maxTokens: 200 };
const TTFC_REQUESTS = 40;
const CHUNKS = 20_000;
const STREAM_REQUESTS = 10;
const ONE_REQUESTS = 400;

async function post(url: string, body: unknown): Promise<{ firstMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  let firstMs = Number.NaN;
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (bytes === 0) firstMs = performance.now() - t0;
    bytes += chunk.length;
  }
  return { firstMs, totalMs: performance.now() - t0, bytes };
}

async function timeToFirstChunk(server: Server) {
  const url = `${server.ready.url}/generate`;
  for (let i = 0; i < 5; i++) {
    await post(url, GENERATE);
    await post(url, { ...GENERATE, stream: false });
  }
  const streamedFirst: number[] = [];
  const streamedTotal: number[] = [];
  const whole: number[] = [];
  for (let i = 0; i < TTFC_REQUESTS; i++) {
    const s = await post(url, { ...GENERATE, seed: i });
    streamedFirst.push(s.firstMs);
    streamedTotal.push(s.totalMs);
    whole.push((await post(url, { ...GENERATE, seed: i, stream: false })).totalMs);
  }
  return { first: summarize(streamedFirst), streamedTotal: summarize(streamedTotal), whole: summarize(whole) };
}

/** Server CPU µs per request for `requests` sequential requests to `path` with `body`. */
async function cpuPerRequest(server: Server, path: string, body: unknown, requests: number): Promise<number> {
  const url = `${server.ready.url}${path}`;
  for (let i = 0; i < Math.min(20, requests); i++) await post(url, body);
  const before = cpuSeconds(server.pid);
  for (let i = 0; i < requests; i++) await post(url, body);
  return ((cpuSeconds(server.pid) - before) / requests) * 1e6;
}

async function chunkCost(server: Server) {
  const one = await cpuPerRequest(server, '/one', {}, ONE_REQUESTS);
  const direct = await cpuPerRequest(server, '/ticks', { n: CHUNKS }, STREAM_REQUESTS);
  const relayed = await cpuPerRequest(server, '/relayed', { n: CHUNKS }, STREAM_REQUESTS);
  return { one, direct: (direct - one) / CHUNKS, relayed: (relayed - one) / CHUNKS };
}

const server = await startServer('stream/server.ts', []);
try {
  const started = Date.now();
  console.log('## threadserve bench: streaming\n');
  console.log(
    `- ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores; Node ${process.version}; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  const t = await timeToFirstChunk(server);
  console.log(`### Time to first chunk (examples/stream, ${GENERATE.maxTokens} characters, ${TTFC_REQUESTS} sequential requests each)\n`);
  console.log(
    mdTable(
      ['request', 'p50 ms', 'p99 ms'],
      [
        ['streamed: first character arrives', fmtNum(t.first.p50, 2), fmtNum(t.first.p99, 2)],
        ['streamed: last character arrives', fmtNum(t.streamedTotal.p50, 2), fmtNum(t.streamedTotal.p99, 2)],
        ['not streamed (`stream: false`): the answer arrives', fmtNum(t.whole.p50, 2), fmtNum(t.whole.p99, 2)],
      ],
    ),
  );
  const c = await chunkCost(server);
  console.log(
    `\n### Server CPU per chunk (${STREAM_REQUESTS} requests of ${CHUNKS.toLocaleString('en')} chunks, against ${ONE_REQUESTS} one-value requests at ${fmtNum(c.one, 0)} µs each)\n`,
  );
  console.log(
    mdTable(
      ['stream', 'server CPU µs per chunk'],
      [
        ['generator in the ingress replica -> HTTP JSON lines', fmtNum(c.direct, 2)],
        ['generator in another replica, re-yielded by the ingress -> HTTP', fmtNum(c.relayed, 2)],
      ],
    ),
  );
  console.log(`\nfirst character / whole answer, p50: ${fmtRatio(t.first.p50 / t.whole.p50)}`);
  console.log(
    '\n' +
      targetsTable([
        { name: 'server CPU per chunk, one hop', value: c.direct, target: 20, kind: 'max', format: (x) => `${fmtNum(x, 2)} µs` },
        { name: 'server CPU per chunk, two hops', value: c.relayed, target: 20, kind: 'max', format: (x) => `${fmtNum(x, 2)} µs` },
      ]),
  );
  console.log(
    `\n(${Math.round((Date.now() - started) / 1000)} s; load average at end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
} finally {
  await server.stop();
}
