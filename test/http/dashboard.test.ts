// /-/dashboard over HTTP: the page and every script it loads, the data it draws (the graph,
// replicas, sampled traffic), the Server-Sent Events stream, who may open it, and /-/status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { chainApp } from '../fixtures/deployments.ts';

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('/-/dashboard', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run(chainApp, { listen: false, logLevel: 'silent' });
  });
  after(() => s.close());
  const get = (url: string, remoteAddress?: string) => s.http.inject({ method: 'GET', url, ...(remoteAddress ? { remoteAddress } : {}) });

  it('serves the page, and every script and stylesheet it loads, from the package', async () => {
    const page = await get('/-/dashboard');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    const queue = [...page.body.matchAll(/(?:src|href)="(\/-\/dashboard\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(queue.some((u) => u.endsWith('/dashboard.js')) && queue.some((u) => u.endsWith('uPlot.min.css')), page.body);
    // Follow the module graph: every import of every script must answer 200.
    const seen = new Set<string>();
    while (queue.length) {
      const url = queue.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const r = await get(url);
      assert.equal(r.statusCode, 200, `${url} answered ${r.statusCode}`);
      if (!url.endsWith('.js')) continue;
      assert.match(r.headers['content-type'] as string, /javascript/, url);
      for (const m of r.body.matchAll(/^import\s[^'"]*['"]([^'"]+)['"]/gm)) queue.push(new URL(m[1]!, `http://x${url}`).pathname);
    }
    assert.ok(seen.has('/-/dashboard/vendor/uPlot.esm.js') && seen.has('/-/dashboard/assets/graph.js'), [...seen].join(' '));
    assert.equal((await get('/-/dashboard/vendor/uPlot.cjs.js')).statusCode !== 200, true, 'only the files the page uses are served from uPlot');
  });

  it('/-/status and /-/dashboard/data describe the graph, the replicas and the autoscaling decisions', async () => {
    const status = (await get('/-/status')).json();
    assert.deepEqual(status.applications, [{ name: 'default', route: '/chain', ingress: 'Chain' }]);
    const chain = status.deployments.find((d: { name: string }) => d.name === 'Chain');
    assert.deepEqual(chain.calls, ['Echo', 'Slow']);
    assert.equal(chain.multiplexed, false);
    assert.deepEqual(chain.autoscalingDecisions, []);
    const echo = status.deployments.find((d: { name: string }) => d.name === 'Echo');
    assert.deepEqual(
      echo.replicas.map((r: { id: string; state: string; models: string[] }) => [r.id, r.state, r.models]),
      [
        ['Echo#0', 'running', []],
        ['Echo#1', 'running', []],
      ],
    );
    assert.equal(typeof echo.replicas[0].startedAt, 'number');
    const data = (await get('/-/dashboard/data')).json();
    assert.equal(data.sampleIntervalS, 1);
    assert.equal(data.server.pid, process.pid);
    assert.match(data.server.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(
      data.status.deployments.map((d: { name: string }) => d.name),
      ['Chain', 'Echo', 'Slow'],
    );
  });

  it('samples HTTP and per-deployment traffic every second, leaving its own routes out', async () => {
    const post = (payload: unknown) => s.http.inject({ method: 'POST', url: '/chain', payload: payload as object });
    for (let i = 0; i < 4; i++) assert.equal((await post({ values: [1, i] })).statusCode, 200);
    assert.equal((await post({ values: 'no' })).statusCode, 400);
    await get('/metrics');
    const data = await waitFor(
      'a sample with the requests',
      async () => (await get('/-/dashboard/data')).json(),
      (d) => d.totals.http.requests === 5 && d.history.some((x: { http: { rps: number } }) => x.http.rps > 0),
    );
    assert.deepEqual(data.totals.http, { requests: 5, clientErrors: 1, serverErrors: 0 }, 'the /-/ routes and /metrics are not counted');
    assert.equal(data.totals.deployments.Chain.requests, 4, 'the invalid body never reached the deployment');
    assert.equal(data.totals.deployments.Echo.requests, 4);
    const busy = data.history.find((x: { http: { rps: number } }) => x.http.rps > 0);
    assert.ok(busy.http.p99Ms > 0 && busy.deployments.Chain.rps > 0, JSON.stringify(busy));
    assert.ok(busy.http.clientErrorRate > 0);
  });

  it('answers loopback clients only unless the dashboard option opens it', async () => {
    for (const url of ['/-/dashboard', '/-/dashboard/data', '/-/dashboard/assets/dashboard.js']) {
      const r = await get(url, '10.1.2.3');
      assert.equal(r.statusCode, 403, url);
      assert.equal(r.json().error.code, 'FORBIDDEN');
      assert.match(r.json().error.message, /loopback clients only, not 10\.1\.2\.3; serve with dashboard: 'open'/);
    }
    assert.equal((await get('/-/dashboard', '::1')).statusCode, 200);
    assert.equal((await get('/-/dashboard', '::ffff:127.0.0.1')).statusCode, 200);
    assert.equal((await get('/-/status', '10.1.2.3')).statusCode, 200, 'other /-/ routes are not affected');
  });
});

describe('the dashboard option', () => {
  it("'open' serves every client, 'off' serves no dashboard route, anything else is refused naming the option", async () => {
    const open = await serve.run(chainApp, { listen: false, logLevel: 'silent', dashboard: 'open' });
    try {
      assert.equal((await open.http.inject({ url: '/-/dashboard', remoteAddress: '10.1.2.3' })).statusCode, 200);
    } finally {
      await open.close();
    }
    const off = await serve.run(chainApp, { listen: false, logLevel: 'silent', dashboard: 'off' });
    try {
      for (const url of ['/-/dashboard', '/-/dashboard/data', '/-/dashboard/events']) assert.equal((await off.http.inject({ url })).statusCode, 404, url);
    } finally {
      await off.close();
    }
    await assert.rejects(serve.run(chainApp, { dashboard: 'public' as never }), /serve: dashboard must be one of local, open, off, got "public"/);
  });
});

describe('/-/dashboard/events', () => {
  it('streams the status and history at once, then a sample every second; close() ends the stream', async () => {
    const s = await serve.run(chainApp, { port: 0, logLevel: 'silent' });
    let closed = false;
    try {
      const res = await fetch(`${s.url}/-/dashboard/events`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!/\n\ndata: .*\n\n/s.test(text)) {
        const { value, done } = await reader.read();
        assert.ok(!done, `stream ended early: ${text}`);
        text += value;
      }
      const [init, message] = text.split('\n\n');
      assert.match(init!, /^retry: \d+\nevent: init\ndata: /);
      const first = JSON.parse(init!.split('data: ')[1]!);
      assert.deepEqual(
        first.status.deployments.map((d: { name: string }) => d.name),
        ['Chain', 'Echo', 'Slow'],
      );
      assert.ok(Array.isArray(first.history));
      const next = JSON.parse(message!.slice('data: '.length));
      assert.equal(typeof next.sample.t, 'number');
      assert.ok(next.sample.deployments.Echo && next.status && next.totals);
      // An open stream must not hold shutdown until the graceful timeout.
      const started = Date.now();
      await s.close();
      closed = true;
      assert.ok(Date.now() - started < 5000, `close() took ${Date.now() - started} ms`);
      for (;;) if ((await reader.read()).done) break;
    } finally {
      if (!closed) await s.close();
    }
  });
});
