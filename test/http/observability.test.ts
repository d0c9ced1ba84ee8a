// Access log, request ids and /metrics through the public interface (serve.run, HTTP).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { bind, serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import backpressureApp from '../fixtures/backpressure.ts';
import { Crashes, chainApp } from '../fixtures/deployments.ts';

/** A pino logger whose JSON lines land in an array. */
function memoryLogger() {
  const lines: Array<Record<string, any>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return undefined;
}

describe('access log, request ids and HTTP metrics', () => {
  let s: ServeInstance;
  const { logger, lines } = memoryLogger();
  before(async () => {
    s = await serve.run({ chain: chainApp, front: backpressureApp }, { listen: false, logger });
  });
  after(() => s.close());

  const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
    s.http.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

  it('counts a 200, a 400, a 405 and a 503 by route, method and status class, and logs each', async () => {
    const ok = await post('/chain', JSON.stringify({ values: [1, 2] }));
    assert.equal(ok.statusCode, 200);
    const bad = await post('/chain', '{"values": [1,');
    assert.equal(bad.statusCode, 400);
    const wrongMethod = await s.http.inject({ method: 'GET', url: '/chain' });
    assert.equal(wrongMethod.statusCode, 405);
    // The bottleneck takes one call and queues one: of four at once, two are refused.
    const burst = await Promise.all([1, 2, 3, 4].map(() => post('/front', JSON.stringify({ ms: 150 }))));
    const refused = burst.filter((r) => r.statusCode === 503).length;
    assert.ok(refused >= 1, `some of the burst got 503: ${burst.map((r) => r.statusCode)}`);

    const text = (await s.http.inject({ url: '/metrics' })).body;
    const count = (route: string, method: string, status_class: string) => sample(text, 'threadserve_http_requests_total', { route, method, status_class });
    assert.equal(count('/chain', 'POST', '2xx'), 1);
    assert.equal(count('/chain', 'POST', '4xx'), 1);
    assert.equal(count('/chain', 'GET', '4xx'), 1);
    assert.equal(count('/front', 'POST', '5xx'), refused);
    assert.equal(count('/front', 'POST', '2xx'), 4 - refused);
    assert.equal(sample(text, 'threadserve_http_request_duration_seconds_count', { route: '/chain', method: 'POST' }), 2);
    assert.equal(sample(text, 'threadserve_http_request_duration_seconds_bucket', { route: '/front', method: 'POST', le: '+Inf' }), 4);
    // The per-deployment queue/processing split is still there.
    assert.ok(sample(text, 'threadserve_queue_duration_seconds_count', { deployment: 'Bottleneck' })! >= 1);
    assert.ok(sample(text, 'threadserve_processing_duration_seconds_count', { deployment: 'Chain' })! >= 1);
    // Node's and the process's own metrics, and each replica thread's heap.
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_resident_memory_bytes']) {
      assert.notEqual(sample(text, name, {}), undefined, `${name} exported`);
    }
    assert.ok(sample(text, 'threadserve_replica_heap_used_bytes', { deployment: 'Chain', replica: 'Chain#0' })! > 100_000);

    const access = lines.filter((l) => l.msg === 'request' || l.msg === 'request failed');
    const byStatus = (status: number) => access.filter((l) => l.status === status);
    const [okLine] = byStatus(200).filter((l) => l.route === '/chain');
    assert.ok(okLine, 'the 200 was logged');
    assert.equal(okLine.method, 'POST');
    assert.equal(okLine.reqId, ok.headers['x-request-id']);
    assert.equal(typeof okLine.ms, 'number');
    assert.equal(okLine.bytes, Number(ok.headers['content-length']));
    assert.equal(byStatus(400)[0].error.code, 'MALFORMED_BODY');
    assert.equal(byStatus(405)[0].error.code, 'METHOD_NOT_ALLOWED');
    const failed = byStatus(503);
    assert.equal(failed.length, refused);
    assert.equal(failed[0].level, 50);
    assert.equal(failed[0].error.code, 'BACKPRESSURE');
    assert.match(failed[0].error.stack, /BackpressureError/);
    assert.equal(byStatus(400)[0].error.stack, undefined, 'no stack for 4xx');
  });

  it("keeps the client's x-request-id, makes one when absent, and hands it to call(body, request)", async () => {
    const given = await post('/chain', JSON.stringify({ values: [1] }), { 'x-request-id': 'client-42' });
    assert.equal(given.headers['x-request-id'], 'client-42');
    assert.equal(given.json().requestId, 'client-42');
    const made = await post('/chain', JSON.stringify({ values: [1] }));
    assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(made.json().requestId, made.headers['x-request-id']);
    const unusable = await post('/chain', JSON.stringify({ values: [1] }), { 'x-request-id': 'has spaces in it' });
    assert.notEqual(unusable.headers['x-request-id'], 'has spaces in it');
    const notFound = await s.http.inject({ url: '/nowhere', headers: { 'x-request-id': 'nf-1' } });
    assert.equal(notFound.statusCode, 404);
    assert.equal(notFound.headers['x-request-id'], 'nf-1');
  });
});

describe('access log off', () => {
  it('logs no line per request, but still logs 5xx answers', async () => {
    const { logger, lines } = memoryLogger();
    const s = await serve.run(backpressureApp, { listen: false, logger, accessLog: false });
    try {
      const burst = await Promise.all([1, 2, 3, 4].map(() => s.http.inject({ method: 'POST', url: '/front', payload: { ms: 150 } })));
      const refused = burst.filter((r) => r.statusCode === 503).length;
      assert.ok(refused >= 1);
      assert.equal(lines.filter((l) => l.msg === 'request').length, 0);
      assert.equal(lines.filter((l) => l.msg === 'request failed').length, refused);
    } finally {
      await s.close();
    }
  });
});

describe('logging options', () => {
  it('refuses bad values, naming the option', async () => {
    await assert.rejects(serve.run(bind(Crashes), { listen: false, accessLog: 'yes' as never }), /accessLog.*must be true or false/);
    await assert.rejects(serve.run(bind(Crashes), { listen: false, logFormat: 'xml' as never }), /logFormat.*must be one of auto, json, pretty/);
    await assert.rejects(serve.run(bind(Crashes), { listen: false, httpMetrics: 1 as never }), /httpMetrics.*must be true or false/);
  });
});

describe('replica restarts by cause', () => {
  it('counts a replica that died under cause "died"', async () => {
    const s = await serve.run(bind(Crashes), { listen: false, logLevel: 'silent' });
    try {
      await s
        .handle<Crashes>('Crashes')
        .exit()
        .catch(() => undefined);
      const end = Date.now() + 10_000;
      let restarts: number | undefined;
      while (restarts === undefined && Date.now() < end) {
        restarts = sample((await s.http.inject({ url: '/metrics' })).body, 'threadserve_replica_restarts_total', { deployment: 'Crashes', cause: 'died' });
        if (restarts === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(restarts, 1);
    } finally {
      await s.close();
    }
  });
});
