// Connections at the HTTP edge: an answer sent before the body was read closes the connection
// after lingering (the client gets the answer, not a reset; the next request never hangs), slow
// clients time out with 408, and shutdown closes idle and stalled connections at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serve } from 'threadserve';
import app from '../fixtures/edge.ts';
import { RawConnection, multipartBody, rawRequest } from '../fixtures/raw-http.ts';

const json = (body: unknown) => rawRequest('POST', '/echo', { 'content-type': 'application/json' }, JSON.stringify(body));

describe('HTTP edge: connections', () => {
  it('closes with Connection: close after a 4xx that stopped reading the body; the next request does not hang', async () => {
    const s = await serve.run(app, { port: 0, logLevel: 'silent' });
    try {
      const manyParts = multipartBody(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'] as [string, string]));
      const cases: Array<[string, Buffer, number]> = [
        ['multipart parts limit', rawRequest('POST', '/echo', { 'content-type': manyParts.contentType }, manyParts.body), 413],
        ['content-length over bodyLimit', rawRequest('POST', '/echo', { 'content-type': 'application/octet-stream' }, Buffer.alloc(300 * 1024)), 413],
        ['unsupported type with a body', rawRequest('POST', '/echo', { 'content-type': 'text/plain' }, Buffer.alloc(200 * 1024)), 415],
      ];
      for (const [what, bytes, status] of cases) {
        const c = await RawConnection.open(s.url!);
        // The bad request and a good one right behind it on the same kept-alive connection.
        c.write(Buffer.concat([bytes, json({ after: what })]));
        const r = await c.read();
        assert.equal(r.status, status, `${what}: ${r.body}`);
        assert.equal(r.headers.connection, 'close', what);
        // The server closes (after lingering) rather than reading the rest as the next request or hanging.
        await c.waitClosed(5000);
        c.close();
      }
      // A 413 with the body left unsent: the server still answers and closes within its linger bound.
      const c = await RawConnection.open(s.url!);
      c.write(rawRequest('POST', '/echo', { 'content-type': 'application/octet-stream', 'content-length': String(50 * 1024 * 1024) }, ''));
      const r = await c.read();
      assert.equal(r.status, 413);
      await c.waitClosed(5000);
      const ok = await fetch(`${s.url}/echo`, { method: 'POST', body: '{"still":"serving"}', headers: { 'content-type': 'application/json' } });
      assert.deepEqual(await ok.json(), { still: 'serving' });
    } finally {
      await s.close();
    }
  });

  it('gives fetch the 413 for a 60 MB body, not EPIPE or a reset', async () => {
    const s = await serve.run(app, { port: 0, logLevel: 'silent' });
    try {
      const big = new Uint8Array(60 * 1024 * 1024);
      for (let i = 0; i < 10; i++) {
        const r = await fetch(`${s.url}/echo`, { method: 'POST', body: big, headers: { 'content-type': 'application/octet-stream' } });
        assert.equal(r.status, 413, `try ${i}`);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BODY_TOO_LARGE');
      }
      const ok = await fetch(`${s.url}/echo`, { method: 'POST', body: new Uint8Array(10), headers: { 'content-type': 'application/octet-stream' } });
      assert.deepEqual(await ok.json(), { bytes: 10 });
    } finally {
      await s.close();
    }
  });

  it('answers 408 CLIENT_TIMEOUT to a body that does not arrive within bodyTimeoutS and frees the connection', async () => {
    const s = await serve.run(app, { port: 0, logLevel: 'silent', bodyTimeoutS: 1 });
    try {
      const started = Date.now();
      const c = await RawConnection.open(s.url!);
      c.write(rawRequest('POST', '/echo', { 'content-type': 'application/json', 'content-length': '100' }, '{"a":'));
      const r = await c.read(15_000);
      assert.equal(r.status, 408);
      assert.equal(JSON.parse(r.body).error.code, 'CLIENT_TIMEOUT');
      assert.ok(Date.now() - started >= 900, 'not before the timeout');
      await c.waitClosed(5000);
      // Headers that never finish time out the same way.
      const h = await RawConnection.open(s.url!);
      h.write('POST /echo HTTP/1.1\r\nhost: x\r\n');
      const rh = await h.read(15_000);
      assert.equal(rh.status, 408);
      await h.waitClosed(5000);
      const ok = await fetch(`${s.url}/echo`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      assert.deepEqual(await ok.json(), { a: 1 });
    } finally {
      await s.close();
    }
  });

  it('shutdown closes idle and stalled connections at once, finishes requests being served, refuses new ones with UNAVAILABLE', async () => {
    const s = await serve.run(app, { port: 0, logLevel: 'silent', bodyTimeoutS: 600 });
    const idle = await RawConnection.open(s.url!);
    idle.write(json({ warm: 1 }));
    assert.equal((await idle.read()).status, 200);
    const stalled = await RawConnection.open(s.url!);
    stalled.write(rawRequest('POST', '/echo', { 'content-type': 'application/json', 'content-length': '1000' }, '{"a":'));
    const headersOnly = await RawConnection.open(s.url!);
    headersOnly.write('POST /echo HTTP/1.1\r\n');
    // One request being served (it waits 1.5 s in the replica).
    const busy = await RawConnection.open(s.url!);
    busy.write(json({ waitMs: 1500 }));
    await new Promise((r) => setTimeout(r, 300));

    const started = Date.now();
    const closing = s.close();
    // A request sent on the served connection once shutdown began.
    busy.write(json({ late: true }));
    await Promise.all([idle.waitClosed(2000), stalled.waitClosed(2000), headersOnly.waitClosed(2000)]);
    assert.ok(Date.now() - started < 1400, 'idle and stalled connections close before the served request ends');
    const served = await busy.read();
    assert.equal(served.status, 200);
    assert.deepEqual(JSON.parse(served.body), { waitMs: 1500 });
    const late = await busy.read();
    assert.equal(late.status, 503);
    assert.equal(JSON.parse(late.body).error.code, 'UNAVAILABLE');
    assert.equal(late.headers.connection, 'close');
    await busy.waitClosed(2000);
    await closing;
    assert.ok(Date.now() - started < 10_000, 'shutdown waits for the served request only');
  });
});
