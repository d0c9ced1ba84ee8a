// OpenTelemetry: with an SDK registered (in-memory exporter), a request through three hops
// (ingress -> Front -> Mid -> Leaf, over direct links between replica threads and through the
// main thread's queue) gives one trace with one span per hop, each the child of the one before.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { tracedApp } from '../fixtures/traced.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

/** The spans of one trace, waiting until `n` have arrived (replica spans come a moment later). */
async function spansOf(traceId: string, n: number): Promise<ReadableSpan[]> {
  const end = Date.now() + 5000;
  for (;;) {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    if (spans.length >= n || Date.now() > end) return spans;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Asserts the chain server -> Front.call -> Mid.run -> Leaf.work, and returns it. */
function assertChain(spans: ReadableSpan[]) {
  const byName = (name: string) => {
    const found = spans.filter((s) => s.name === name);
    assert.equal(found.length, 1, `one ${name} span in ${spans.map((s) => s.name)}`);
    return found[0]!;
  };
  const server = byName('POST /traced');
  const front = byName('Front.call');
  const mid = byName('Mid.run');
  const leaf = byName('Leaf.work');
  assert.equal(spans.length, 4, spans.map((s) => s.name).join(', '));
  assert.equal(parentOf(front), server.spanContext().spanId);
  assert.equal(parentOf(mid), front.spanContext().spanId);
  assert.equal(parentOf(leaf), mid.spanContext().spanId);
  // Children start after and end before their parents.
  for (const [child, parent] of [
    [front, server],
    [mid, front],
    [leaf, mid],
  ] as const) {
    const t = (h: [number, number]) => h[0] * 1e9 + h[1];
    assert.ok(t(child.startTime) >= t(parent.startTime), `${child.name} starts within ${parent.name}`);
    assert.ok(t(child.endTime) <= t(parent.endTime) + 1e6, `${child.name} ends within ${parent.name}`);
  }
  return { server, front, mid, leaf };
}

describe('tracing with an OpenTelemetry SDK', () => {
  let s: ServeInstance;
  before(async () => {
    // What a user's SDK set-up does (NodeSDK or NodeTracerProvider.register()), before serve.run.
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    s = await serve.run(tracedApp, { listen: false, logLevel: 'silent' });
  });
  after(async () => {
    await s.close();
    await provider.shutdown();
  });

  it("makes one trace of a three-hop request, child of the client's traceparent", async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const r = await s.http.inject({
      method: 'POST',
      url: '/traced',
      payload: { x: 20 },
      headers: { traceparent: `00-${traceId}-${clientSpan}-01`, 'x-request-id': 'trace-me' },
    });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { y: 41 });
    const { server, front, mid, leaf } = assertChain(await spansOf(traceId, 4));
    assert.equal(parentOf(server), clientSpan);
    assert.equal(server.attributes['http.route'], '/traced');
    assert.equal(server.attributes['http.response.status_code'], 200);
    for (const span of [front, mid, leaf]) assert.equal(span.attributes['threadserve.request_id'], 'trace-me');
    assert.equal(front.attributes['threadserve.deployment'], 'Front');
    assert.equal(typeof front.attributes['threadserve.queue_wait_ms'], 'number');
    assert.match(String(mid.attributes['threadserve.replica']), /^Mid#\d$/);
    assert.equal(leaf.attributes['threadserve.path'], 'direct');
  });

  it('keeps every trace whole under concurrent requests, also for calls the main thread queues', async () => {
    exporter.reset();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.http.inject({ method: 'POST', url: '/traced', payload: { x: i } })));
    assert.deepEqual(
      results.map((r) => r.statusCode),
      Array(8).fill(200),
    );
    const servers = exporter.getFinishedSpans().filter((sp) => sp.name === 'POST /traced');
    assert.equal(servers.length, 8);
    const paths = new Set<unknown>();
    for (const server of servers) {
      const { leaf } = assertChain(await spansOf(server.spanContext().traceId, 4));
      paths.add(leaf.attributes['threadserve.path']);
    }
    // Leaf takes one call at a time: with 8 at once, Mid's calls queue on the main thread.
    assert.ok(paths.has('relayed'), `some Leaf calls were relayed: ${[...paths]}`);
  });

  it('makes a handle call from main-thread code a child of the span it runs in', async () => {
    exporter.reset();
    const tracer = trace.getTracer('test');
    const root = tracer.startSpan('job');
    const y = await context.with(trace.setSpan(context.active(), root), () => s.handle<import('../fixtures/traced.ts').Mid>('Mid').run(1));
    root.end();
    assert.equal(y, 3);
    const spans = await spansOf(root.spanContext().traceId, 3);
    const mid = spans.find((sp) => sp.name === 'Mid.run')!;
    const leaf = spans.find((sp) => sp.name === 'Leaf.work')!;
    assert.equal(parentOf(mid), root.spanContext().spanId);
    assert.equal(parentOf(leaf), mid.spanContext().spanId);
  });

  it('answers errors with an error span', async () => {
    exporter.reset();
    const r = await s.http.inject({ method: 'POST', url: '/traced', payload: '{', headers: { 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 400);
    const [server] = exporter.getFinishedSpans().filter((sp) => sp.name === 'POST /traced');
    assert.equal(server!.attributes['threadserve.error_code'], 'MALFORMED_BODY');
  });
});
