// The HTTP edge over real sockets: every client-caused error from every layer (Node's parser,
// fastify, the multipart parser, the body checks) answers the catalogue's shape with a 4xx, and
// the server keeps serving afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pack } from 'msgpackr';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { ERROR_CODES } from '../../runtime/shared/error-codes.ts';
import app from '../fixtures/edge.ts';
import { RawConnection, multipartBody, rawRequest } from '../fixtures/raw-http.ts';

function assertShape(status: number, text: string, expected: { status: number; code: string; message?: RegExp }, what: string) {
  assert.equal(status, expected.status, `${what}: ${text}`);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.equal(typeof body.error, 'object', `${what}: ${text}`);
  assert.equal(body.error.code, expected.code, `${what}: ${text}`);
  assert.ok(expected.code in ERROR_CODES, `${what}: ${expected.code} is catalogued`);
  assert.equal(typeof body.error.message, 'string');
  if (expected.message) assert.match(body.error.message, expected.message, what);
  assert.doesNotMatch(text, /node_modules|\.js:\d+|\.ts:\d+|at .*\(|busboy|needle/i, `${what}: no internals in the body`);
}

describe('HTTP edge: one error shape from every layer', () => {
  let s: ServeInstance;
  before(async () => {
    s = await serve.run(app, { port: 0, logLevel: 'silent', bodyTimeoutS: 30 });
  });
  after(() => s.close());

  const post = (body: string | Uint8Array, type: string, path = '/echo') =>
    fetch(`${s.url}${path}`, { method: 'POST', body, headers: { 'content-type': type } });

  async function assertStillServes() {
    const r = await post(JSON.stringify({ hello: 'world' }), 'application/json');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { hello: 'world' });
  }

  it("answers errors that never reach a route (Node's parser, fastify's router) in the catalogue's shape", async () => {
    const cases: Array<[string, Buffer, number, string, RegExp]> = [
      ['bad percent-escape', rawRequest('POST', '/echo/%zz', { 'content-type': 'application/json' }, '{}'), 400, 'BAD_REQUEST', /escape|url|%zz/i],
      ['headers over the limit', rawRequest('GET', '/-/healthz', { 'x-big': 'a'.repeat(20_000) }), 431, 'HEADERS_TOO_LARGE', /headers/],
      ['garbage request line', Buffer.from('THIS IS NOT HTTP\r\n\r\n'), 400, 'BAD_REQUEST', /malformed/],
      ['bad content-length', Buffer.from('POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n'), 400, 'BAD_REQUEST', /malformed/],
    ];
    for (const [what, bytes, status, code, message] of cases) {
      const c = await RawConnection.open(s.url!);
      c.write(bytes);
      const r = await c.read();
      assertShape(r.status, r.body, { status, code, message }, what);
      c.close();
    }
    await assertStillServes();
  });

  it("answers body and content-type errors in the catalogue's shape", async () => {
    const cases: Array<[string, () => Promise<Response>, number, string, RegExp]> = [
      ['unsupported type', () => post('hi', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/plain.*application\/octet-stream/],
      ['malformed JSON', () => post('{"a":', 'application/json'), 400, 'MALFORMED_BODY', /JSON/],
      ['empty JSON', () => post('', 'application/json'), 400, 'MALFORMED_BODY', /empty/],
      ['malformed msgpack', () => post(new Uint8Array([0x92, 0x01]), 'application/msgpack'), 400, 'MALFORMED_BODY', /msgpack/],
      [
        'msgpack of a value no body carries',
        () => post(new Uint8Array([0x81, 0xa1, 0x78, 0xc1]), 'application/msgpack'),
        400,
        'INVALID_INPUT',
        /body\.x is a C1Type/,
      ],
      ['body over the limit', () => post(new Uint8Array(200 * 1024), 'application/octet-stream'), 413, 'BODY_TOO_LARGE', /102400 bytes/],
    ];
    for (const [what, send, status, code, message] of cases) {
      const r = await send();
      assertShape(r.status, await r.text(), { status, code, message }, what);
    }
    await assertStillServes();
  });

  it('answers malformed multipart with 400 and multipart limits with 413 naming the limit', async () => {
    const unterminated = Buffer.from('--b\r\ncontent-disposition: form-data; name="f"; filename="x.bin"\r\ncontent-type: application/octet-stream\r\n\r\nabc');
    const manyParts = multipartBody(Array.from({ length: 33 }, (_, i) => [`f${i}`, i < 8 ? Buffer.from('x') : 'x'] as [string, string | Buffer]));
    const manyFiles = multipartBody(Array.from({ length: 9 }, (_, i) => [`f${i}`, Buffer.from('x')] as [string, Buffer]));
    const cases: Array<[string, Buffer, string, number, string, RegExp]> = [
      ['no boundary', Buffer.from('abc'), 'multipart/form-data', 400, 'MALFORMED_BODY', /boundary/],
      ['unterminated', unterminated, 'multipart/form-data; boundary=b', 400, 'MALFORMED_BODY', /multipart/],
      [
        '2000-character boundary',
        Buffer.from('abc'),
        `multipart/form-data; boundary=${'a'.repeat(2000)}`,
        400,
        'MALFORMED_BODY',
        /boundary is 2000 characters/,
      ],
      ['too many parts', manyParts.body, manyParts.contentType, 413, 'BODY_TOO_LARGE', /more than 32 parts \(the parts limit\)/],
      ['too many files', manyFiles.body, manyFiles.contentType, 413, 'BODY_TOO_LARGE', /more than 8 files \(the files limit\)/],
    ];
    for (const [what, body, type, status, code, message] of cases) {
      const r = await post(body, type);
      assertShape(r.status, await r.text(), { status, code, message }, what);
    }
    const ok = multipartBody([
      ['name', 'ada'],
      ['file', Buffer.alloc(1000)],
    ]);
    const r = await post(ok.body, ok.contentType);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { name: 'ada', file: { bytes: 1000 } });
    await assertStillServes();
  });

  it('rejects non-finite numbers and reserved names with 400 naming the field', async () => {
    const cases: Array<[string, () => Promise<Response>, RegExp]> = [
      ['1e999 in JSON', () => post('{"history":[1,2,1e999]}', 'application/json'), /body\.history\[2\] must be a finite number, got Infinity/],
      ['NaN in msgpack', () => post(pack({ x: { y: NaN } }), 'application/msgpack'), /body\.x\.y must be a finite number, got NaN/],
      ['__proto__ key', () => post('{"a":{"__proto__":{"admin":true}}}', 'application/json'), /body\.a\.__proto__: "__proto__" is a reserved name/],
      ['constructor key', () => post('{"constructor":{"prototype":1}}', 'application/json'), /body\.constructor.*reserved/],
      ['prototype key in msgpack', () => post(pack({ list: [{ prototype: 1 }] }), 'application/msgpack'), /body\.list\[0\]\.prototype.*reserved/],
      [
        'reserved multipart field',
        () => {
          const m = multipartBody([['constructor', 'x']]);
          return post(m.body, m.contentType);
        },
        /named "__proto__" or "constructor"/,
      ],
    ];
    for (const [what, send, message] of cases) {
      const r = await send();
      assertShape(r.status, await r.text(), { status: 400, code: 'INVALID_INPUT', message }, what);
    }
    await assertStillServes();
  });
});
