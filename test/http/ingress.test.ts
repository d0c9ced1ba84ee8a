// The HTTP ingress through fastify inject: bodies, content negotiation, errors, health routes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { bind, serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import backpressureApp from '../fixtures/backpressure.ts';
import { Crashes, Throws, chainApp } from '../fixtures/deployments.ts';
import { deployment } from 'threadserve';

class Thrower {
  constructor(private readonly t: import('threadserve').Handle<Throws>) {}
  async call(body: { kind: string }) {
    if (body.kind === 'http') return this.t.http(418);
    if (body.kind === 'plain') return this.t.plain();
    return 'fine';
  }
}
const ThrowerIngress = deployment(Thrower, { route: '/throw' });

describe('HTTP ingress', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run(
      { chain: chainApp, front: backpressureApp, thrower: ThrowerIngress.bind(bind(Throws)) },
      { listen: false, logLevel: 'silent', bodyLimit: 4096, requestTimeoutS: 1 },
    );
  });
  after(() => s.close());

  const post = (payload: unknown, headers: Record<string, string> = {}, url = '/chain') =>
    s.http.inject({ method: 'POST', url, payload: payload as string, headers: { 'content-type': 'application/json', ...headers } });

  async function assertStillServes() {
    const ok = await post({ values: [1, 2, 3] });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().sum, 6);
  }

  it('serves JSON through an ingress that calls other deployments', async () => {
    const r = await post({ values: [1, 2, 3.5] }, {}, '/chain/sub/path?x=1');
    assert.equal(r.statusCode, 200);
    assert.match(r.headers['content-type'] as string, /application\/json/);
    const body = r.json();
    assert.equal(body.sum, 6.5);
    assert.equal(body.label, 'chain-v1');
    assert.equal(body.path, '/sub/path');
    assert.deepEqual(body.q, { x: '1' });
    assert.ok(body.requestId);
  });

  it('takes msgpack bodies and answers in the type Accept asks for', async () => {
    const r = await s.http.inject({
      method: 'POST',
      url: '/chain',
      payload: pack({ values: [4, 5] }),
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
    });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'application/msgpack');
    assert.equal(unpack(r.rawPayload).sum, 9);
    const j = await s.http.inject({ method: 'POST', url: '/chain', payload: pack({ values: [1] }), headers: { 'content-type': 'application/msgpack' } });
    assert.equal(j.json().sum, 1);
  });

  it('answers each kind of bad input with a clear 4xx and keeps serving', async () => {
    const cases: Array<[string, () => Promise<{ statusCode: number; json(): any }>, number, string, RegExp]> = [
      ['malformed JSON', () => post('{"values": [1,'), 400, 'MALFORMED_BODY', /JSON/i],
      ['malformed msgpack', () => post(Buffer.from([0xc1, 0xff, 0x00]), { 'content-type': 'application/msgpack' }), 400, 'MALFORMED_BODY', /malformed msgpack/],
      ['schema failure', () => post({ values: ['a', 2], delayMs: -1 }), 400, 'INVALID_REQUEST', /values\.0: .*; delayMs: /],
      ['wrong content type', () => post('values=1', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/plain/],
      ['body over the limit', () => post({ values: Array(3000).fill(1) }), 413, 'BODY_TOO_LARGE', /too large/i],
      ['unknown route', () => s.http.inject({ method: 'POST', url: '/nope' }) as never, 404, 'NOT_FOUND', /no route for POST \/nope/],
      ['wrong method', () => s.http.inject({ method: 'GET', url: '/chain' }) as never, 405, 'METHOD_NOT_ALLOWED', /GET is not allowed on \/chain/],
      ['unanswerable Accept', () => post({ values: [1] }, { accept: 'text/html' }), 406, 'NOT_ACCEPTABLE', /text\/html/],
    ];
    for (const [what, send, status, code, message] of cases) {
      const r = await send();
      assert.equal(r.statusCode, status, what);
      const err = r.json().error;
      assert.equal(err.code, code, what);
      assert.match(err.message, message, what);
      await assertStillServes();
    }
    const schema = (await post({ values: ['a'] })).json().error;
    assert.deepEqual(
      schema.issues.map((i: { path: string }) => i.path),
      ['values.0'],
    );
    const wrongMethod = await s.http.inject({ method: 'PUT', url: '/chain' });
    assert.equal(wrongMethod.headers.allow, 'POST');
  });

  it('maps HttpError to its status and other errors to 500 without a stack', async () => {
    const teapot = await post({ kind: 'http' }, {}, '/throw');
    assert.equal(teapot.statusCode, 418);
    assert.deepEqual(teapot.json(), { error: { code: 'HTTP_ERROR', message: 'teapot 418' } });
    const plain = await post({ kind: 'plain' }, {}, '/throw');
    assert.equal(plain.statusCode, 500);
    assert.deepEqual(plain.json(), { error: { code: 'E_VALIDATION', message: 'bad things' } });
    assert.doesNotMatch(plain.body, /at |\.ts:/);
  });

  it('answers 503 with Retry-After when a call inside the ingress hits backpressure', async () => {
    const send = () => post({ ms: 150 }, {}, '/front');
    const results = await Promise.all([send(), send(), send(), send()]);
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503]);
    const rejected = results.find((r) => r.statusCode === 503)!;
    assert.equal(rejected.headers['retry-after'], '1');
    assert.equal(rejected.json().error.code, 'BACKPRESSURE');
    assert.match(rejected.json().error.message, /deployment "Bottleneck" is overloaded/);
  });

  it('answers 408 when a request runs past requestTimeoutS', async () => {
    const r = await post({ values: [1], delayMs: 1500 });
    assert.equal(r.statusCode, 408);
    assert.equal(r.json().error.code, 'TIMEOUT');
  });

  it('serves /-/healthz and /-/routes', async () => {
    const h = await s.http.inject({ url: '/-/healthz' });
    assert.equal(h.statusCode, 200);
    assert.equal(h.body, 'success');
    const routes = await s.http.inject({ url: '/-/routes' });
    assert.deepEqual(routes.json(), { '/chain': 'chain', '/front': 'front', '/throw': 'thrower' });
  });
});

describe('health while a replica is replaced', () => {
  it('answers 503 on /-/healthz until the replacement is up', async () => {
    const s = await serve.run(bind(Crashes), { listen: false, logLevel: 'silent' });
    try {
      await s
        .handle<Crashes>('Crashes')
        .exit()
        .catch(() => undefined);
      const during = await s.http.inject({ url: '/-/healthz' });
      assert.equal(during.statusCode, 503);
      assert.equal(during.json().error.code, 'NOT_READY');
      const end = Date.now() + 5000;
      while ((await s.http.inject({ url: '/-/healthz' })).statusCode !== 200) {
        assert.ok(Date.now() < end, 'replacement came up');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await s.close();
    }
  });
});

describe('metrics', () => {
  it('exports Prometheus counters, queue and processing histograms per deployment', async () => {
    const s = await serve.run(chainApp, { listen: false, logLevel: 'silent' });
    try {
      for (let i = 0; i < 3; i++) {
        await s.http.inject({ method: 'POST', url: '/chain', payload: { values: [i] } });
      }
      const r = await s.http.inject({ url: '/metrics' });
      assert.equal(r.statusCode, 200);
      assert.match(r.headers['content-type'] as string, /text\/plain/);
      assert.match(r.body, /threadserve_requests_total\{deployment="Chain"\} 3/);
      assert.match(r.body, /threadserve_requests_total\{deployment="Echo"\} 3/);
      assert.match(r.body, /threadserve_queue_duration_seconds_count\{deployment="Echo"\} 3/);
      assert.match(r.body, /threadserve_processing_duration_seconds_bucket\{le="\+Inf",deployment="Chain"\} 3/);
      assert.match(r.body, /threadserve_replica_starts_total\{deployment="Echo"\} 2/);
      assert.match(r.body, /threadserve_replica_ongoing_requests\{deployment="Echo",replica="Echo#1"\} 0/);
      assert.match(r.body, /threadserve_queue_length\{deployment="Slow"\} 0/);
    } finally {
      await s.close();
    }
  });
});
