// gRPC calls are observed like HTTP requests: an access log line per call (and per request of a
// ModelStreamInfer stream) with the client's x-request-id, and /metrics by method and code.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Metadata } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { tickerApp } from '../fixtures/streams.ts';
import { v2GrpcClient } from '../fixtures/grpc-client.ts';
import type { V2GrpcClient } from '../fixtures/grpc-client.ts';

describe('gRPC access log and metrics', () => {
  const lines: Array<Record<string, any>> = [];
  let s: ServeInstance;
  let client: V2GrpcClient;
  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    s = await serve.run({ ticker: tickerApp }, { port: 0, grpcPort: 0, dashboard: 'off', logger: pino({ level: 'info' }, sink) });
    client = v2GrpcClient(s.grpcAddress!);
  });
  after(async () => {
    client.close();
    await s.close();
  });

  it('logs each call with its request id, model, code and time, and counts it in /metrics', async () => {
    const meta = new Metadata();
    meta.set('x-request-id', 'grpc-req-1');
    await client.call('ModelMetadata', { name: 'Ticker' }, { metadata: meta });
    await assert.rejects(client.call('ModelMetadata', { name: 'nope' }));
    const ticks = { model_name: 'Ticker', inputs: [{ name: 'n', datatype: 'INT32', shape: [1], contents: { int_contents: [2] } }] };
    assert.equal((await client.stream([ticks])).length, 3);
    const access = lines.filter((l) => l.msg === 'gRPC call');
    const ok = access.find((l) => l.reqId === 'grpc-req-1');
    assert.ok(ok, `a line for the call with the client's id: ${JSON.stringify(access)}`);
    assert.equal(ok.grpc, 'ModelMetadata');
    assert.equal(ok.model, 'Ticker');
    assert.equal(ok.code, 'OK');
    assert.equal(typeof ok.ms, 'number');
    const missing = access.find((l) => l.model === 'nope');
    assert.equal(missing?.code, 'NOT_FOUND');
    assert.match(missing?.error?.message ?? '', /nope/);
    const streamed = access.find((l) => l.grpc === 'ModelStreamInfer');
    assert.equal(streamed?.code, 'OK');
    const metrics = (await s.http.inject({ url: '/metrics' })).body;
    assert.match(metrics, /threadserve_grpc_requests_total\{method="ModelMetadata",code="OK"\} 1/);
    assert.match(metrics, /threadserve_grpc_requests_total\{method="ModelMetadata",code="NOT_FOUND"\} 1/);
    assert.match(metrics, /threadserve_grpc_requests_total\{method="ModelStreamInfer",code="OK"\} 1/);
    assert.match(metrics, /threadserve_grpc_request_duration_seconds_count\{method="ModelMetadata"\} 2/);
  });
});
