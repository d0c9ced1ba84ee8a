/**
 * The Open Inference Protocol (KServe V2) routes through fastify's inject, against a fake
 * registry: every route, JSON and binary round trips, malformed requests, 404, 413 and 503.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { v2Plugin } from '../../runtime/main/v2/plugin.ts';
import { FakeRegistry } from '../fixtures/v2-registry.ts';

async function build() {
  const registry = new FakeRegistry();
  const app = Fastify();
  // A route of the main app, to show the plugin's body parsers do not leak out of it.
  app.post('/echo-json', async (req) => ({ kind: typeof req.body, body: req.body }));
  await app.register(v2Plugin, { registry, bodyLimit: 64 * 1024, serverVersion: '0.1.0' });
  return { app, registry };
}

/** A binary-extension request: JSON header, then the tensors' bytes in input order. */
function binary(header: object, tails: Buffer[], contentType: string | null = 'application/octet-stream') {
  const json = Buffer.from(JSON.stringify(header));
  const headers: Record<string, string> = { 'inference-header-content-length': String(json.length) };
  if (contentType) headers['content-type'] = contentType;
  return { headers, payload: Buffer.concat([json, ...tails]) };
}

function splitBinary(res: LightMyRequestResponse) {
  const n = Number(res.headers['inference-header-content-length']);
  return { json: JSON.parse(res.rawPayload.subarray(0, n).toString()), tail: res.rawPayload.subarray(n) };
}

const bytesOf = (t: ArrayBufferView) => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
/** BYTES elements as the extension writes them: 4-byte little-endian length, then the bytes. */
function lengthPrefixed(items: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    items.flatMap((s) => {
      const b = typeof s === 'string' ? Buffer.from(s) : s;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

const addInputs = (a: unknown, b: unknown, shape = [2, 3]) => [
  { name: 'a', datatype: 'FP32', shape, data: a },
  { name: 'b', datatype: 'FP32', shape, data: b },
];

test('health, server metadata and model metadata', async () => {
  const { app, registry } = await build();
  assert.deepEqual((await app.inject('/v2/health/live')).json(), { live: true });
  assert.deepEqual((await app.inject('/v2/health/ready')).json(), { ready: true });
  assert.deepEqual((await app.inject('/v2')).json(), { name: 'threadserve', version: '0.1.0', extensions: ['binary_tensor_data'] });
  const meta = (await app.inject('/v2/models/add')).json();
  assert.equal(meta.platform, 'onnxruntime');
  assert.deepEqual(meta.versions, ['1', '2']);
  assert.deepEqual(meta.inputs, [
    { name: 'a', datatype: 'FP32', shape: [-1, 3] },
    { name: 'b', datatype: 'FP32', shape: [-1, 3] },
  ]);
  assert.equal((await app.inject('/v2/models/add/versions/1')).json().name, 'add');
  const unknown = await app.inject('/v2/models/nope');
  assert.deepEqual([unknown.statusCode, unknown.json()], [404, { error: "unknown model 'nope'" }]);
  assert.equal((await app.inject('/v2/models/add/versions/9')).statusCode, 404);
  registry.isServerReady = false;
  const notReady = await app.inject('/v2/health/ready');
  assert.deepEqual([notReady.statusCode, notReady.json().ready], [503, false]);
});

test('model readiness and repository index', async () => {
  const { app } = await build();
  assert.deepEqual((await app.inject('/v2/models/add/ready')).json(), { name: 'add', ready: true });
  assert.equal((await app.inject('/v2/models/add/versions/2/ready')).statusCode, 200);
  const loading = await app.inject('/v2/models/loading/ready');
  assert.deepEqual([loading.statusCode, loading.json().error], [503, "model 'loading' is not ready"]);
  assert.equal((await app.inject('/v2/models/nope/ready')).statusCode, 404);
  assert.equal((await app.inject('/v2/models/add/versions/7/ready')).statusCode, 404);
  const all = await app.inject({ method: 'POST', url: '/v2/repository/index' });
  assert.deepEqual(
    all.json().map((m: { state: string }) => m.state),
    ['READY', 'READY', 'READY', 'LOADING', 'UNAVAILABLE'],
  );
  const ready = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } });
  assert.equal(ready.json().length, 3);
  assert.equal((await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: 1 } })).statusCode, 400);
});

test('JSON infer: flat and nested data, id echo, shortest float32 text, versions', async () => {
  const { app, registry } = await build();
  const res = await app.inject({
    method: 'POST',
    url: '/v2/models/add/infer',
    payload: {
      id: 'r1',
      parameters: { trace: true },
      inputs: addInputs(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
      ),
    },
  });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(res.json(), {
    model_name: 'add',
    model_version: '2',
    id: 'r1',
    outputs: [
      { name: 'sum', datatype: 'FP32', shape: [2, 3], data: [1.1, 2.2, 3.3, 4.4, 5.5, 6.6] },
      { name: 'diff', datatype: 'FP32', shape: [2, 3], data: [0.9, 1.8, 2.7, 3.6, 4.5, 5.4] },
    ],
  });
  assert.ok(registry.lastRequest!.inputs[0]!.data instanceof Float32Array);
  assert.deepEqual(registry.lastRequest!.parameters, { trace: true });
  const v1 = await app.inject({ method: 'POST', url: '/v2/models/add/versions/1/infer', payload: { inputs: addInputs([1], [2], [1]) } });
  assert.equal(v1.json().model_version, '1');
  const only = await app.inject({ method: 'POST', url: '/v2/models/add/infer', payload: { inputs: addInputs([1], [2], [1]), outputs: [{ name: 'diff' }] } });
  assert.deepEqual(
    only.json().outputs.map((o: { name: string }) => o.name),
    ['diff'],
  );
  const missing = await app.inject({ method: 'POST', url: '/v2/models/add/infer', payload: { inputs: addInputs([1], [2], [1]), outputs: [{ name: 'nope' }] } });
  assert.deepEqual([missing.statusCode, missing.json().error], [400, "model 'add' has no output 'nope'; it produced sum, diff"]);
});

test('binary infer: misaligned tensors in, binary and JSON outputs chosen per output', async () => {
  const { app, registry } = await build();
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  const inputs = ['a', 'b'].map((name) => ({ name, datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } }));
  // Header sizes one byte apart: at most one of the two requests has 4-byte-aligned FP32 tensors
  // (every offset is covered in test/unit/v2-codec.test.ts). The first goes without a content type.
  for (const id of ['x', 'xy']) {
    const contentType = id === 'x' ? null : 'application/octet-stream';
    const req = binary({ id, inputs, parameters: { binary_data_output: true } }, [bytesOf(a), bytesOf(b)], contentType);
    const res = await app.inject({ method: 'POST', url: '/v2/models/add/infer', ...req });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    const { json, tail } = splitBinary(res);
    assert.deepEqual(
      json.outputs.map((o: { parameters: unknown }) => o.parameters),
      [{ binary_data_size: 24 }, { binary_data_size: 24 }],
    );
    const out = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 48));
    assert.deepEqual(Array.from(out), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    assert.deepEqual(Array.from(registry.lastRequest!.inputs[0]!.data as Float32Array), Array.from(a));
  }
  const mixed = await app.inject({
    method: 'POST',
    url: '/v2/models/add/infer',
    payload: {
      inputs: addInputs([1], [2], [1]),
      outputs: [
        { name: 'sum', parameters: { binary_data: true } },
        { name: 'diff', parameters: { binary_data: false } },
      ],
    },
  });
  const { json, tail } = splitBinary(mixed);
  assert.deepEqual(json.outputs[1].data, [-1]);
  assert.equal(tail.readFloatLE(0), 3);
  assert.equal(registry.lastRequest!.outputs![0]!.parameters, undefined, 'binary_data is not passed to the model');
});

test('binary round trip of every datatype through echo, bytes unchanged', async () => {
  const { app, registry } = await build();
  const tensors: [string, number[], Buffer][] = [
    ['BOOL', [2], Buffer.from([1, 0])],
    ['UINT8', [2], bytesOf(new Uint8Array([0, 255]))],
    ['INT8', [2], bytesOf(new Int8Array([-128, 127]))],
    ['UINT16', [1], bytesOf(new Uint16Array([65535]))],
    ['INT16', [1], bytesOf(new Int16Array([-32768]))],
    ['UINT32', [1], bytesOf(new Uint32Array([4294967295]))],
    ['INT32', [1], bytesOf(new Int32Array([-7]))],
    ['UINT64', [1], bytesOf(new BigUint64Array([2n ** 64n - 1n]))],
    ['INT64', [2], bytesOf(new BigInt64Array([2n ** 62n + 1n, -5n]))],
    ['FP16', [2], bytesOf(new Uint16Array([0x3c00, 0xc000]))],
    ['FP64', [1], bytesOf(new Float64Array([Math.PI]))],
    ['BYTES', [2, 1], lengthPrefixed(['héllo', ''])],
    ['BYTES', [2], lengthPrefixed([Buffer.from([0xff, 0xd8]), 'ok'])],
  ];
  const inputs = tensors.map(([datatype, shape, buf], i) => ({ name: `t${i}`, datatype, shape, parameters: { binary_data_size: buf.length } }));
  const req = binary(
    { inputs, parameters: { binary_data_output: true } },
    tensors.map((t) => t[2]),
  );
  const res = await app.inject({ method: 'POST', url: '/v2/models/echo/infer', ...req });
  assert.equal(res.statusCode, 200, res.body);
  const { json, tail } = splitBinary(res);
  assert.deepEqual(tail, Buffer.concat(tensors.map((t) => t[2])));
  assert.deepEqual(
    json.outputs.map((o: { datatype: string }) => o.datatype),
    tensors.map((t) => t[0]),
  );
  const seen = registry.lastRequest!.inputs.map((t) => t.data);
  assert.deepEqual(seen[0], [true, false]);
  assert.deepEqual(Array.from(seen[8] as BigInt64Array), [2n ** 62n + 1n, -5n]);
  assert.deepEqual(seen[11], ['héllo', '']);
  assert.ok(seen[12]![0] instanceof Uint8Array, 'non-UTF-8 BYTES stay raw');
});

test('JSON round trip keeps INT64 exact, BOOL, BYTES and FP16 readable', async () => {
  const { app, registry } = await build();
  const inputs = [
    { name: 'i', datatype: 'INT64', shape: [3], data: ['9007199254740993', -2, '-9223372036854775808'] },
    { name: 'u', datatype: 'UINT64', shape: [1], data: ['18446744073709551615'] },
    { name: 'b', datatype: 'BOOL', shape: [1, 2], data: [[true, false]] },
    { name: 's', datatype: 'BYTES', shape: [2], data: ['a', 'ü'] },
    { name: 'h', datatype: 'FP16', shape: [2], data: [1.5, 0.1] },
  ];
  const res = await app.inject({ method: 'POST', url: '/v2/models/echo/infer', payload: { inputs } });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(res.body, /"data":\[9007199254740993,-2,-9223372036854775808\]/);
  assert.match(res.body, /"data":\[18446744073709551615\]/);
  const out = res.json().outputs;
  assert.deepEqual(
    out.slice(2).map((o: { data: unknown }) => o.data),
    [
      [true, false],
      ['a', 'ü'],
      [1.5, 0.1],
    ],
  );
  assert.deepEqual(registry.lastRequest!.inputs[4]!.data, new Uint16Array([0x3e00, 0x2e66]));
});

const malformed: [string, object | string, RegExp, Record<string, string>?][] = [
  ['bad JSON', '{"inputs": [', /^request JSON is malformed/],
  ['not an object', '[1]', /^request body must be a JSON object$/],
  ['schema', { inputs: [{ name: 'a', datatype: 'FP32', shape: [-1], data: [] }] }, /^invalid inference request: inputs\[0\]\.shape\[0\]: /],
  [
    'shape mismatch',
    { inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5] }] },
    /^input 'a': data has 5 elements but shape \[2,3\] needs 6$/,
  ],
  [
    'nesting mismatch',
    { inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3]] }] },
    /^input 'a': data\[1\] must be an array of 2 elements/,
  ],
  ['unknown datatype', { inputs: [{ name: 'a', datatype: 'FP8', shape: [1], data: [1] }] }, /^input 'a': unknown datatype 'FP8'; expected one of BOOL, /],
  [
    'duplicate input',
    {
      inputs: [
        { name: 'a', datatype: 'INT8', shape: [1], data: [1] },
        { name: 'a', datatype: 'INT8', shape: [1], data: [1] },
      ],
    },
    /^duplicate input name 'a'$/,
  ],
  ['no data', { inputs: [{ name: 'a', datatype: 'INT8', shape: [1] }] }, /^input 'a': has neither data nor parameters.binary_data_size$/],
  [
    'out of range',
    { inputs: [{ name: 'a', datatype: 'INT8', shape: [1], data: [200] }] },
    /^input 'a': element 0 is 200; expected a value in INT8 range -128..127$/,
  ],
  ['not integer', { inputs: [{ name: 'a', datatype: 'UINT8', shape: [1], data: [1.5] }] }, /element 0 is 1.5; expected an integer for UINT8/],
  ['wrong type', { inputs: [{ name: 'a', datatype: 'FP32', shape: [1], data: ['1'] }] }, /element 0 is "1"; expected a number for FP32/],
  ['unsafe INT64 number', { inputs: [{ name: 'a', datatype: 'INT64', shape: [1], data: [2 ** 60] }] }, /as a string beyond 2\^53/],
  [
    'binary without header',
    { inputs: [{ name: 'a', datatype: 'INT8', shape: [1], parameters: { binary_data_size: 1 } }] },
    /only 0 bytes of binary data remain \(no Inference-Header-Content-Length header was sent\)/,
  ],
  ['bad binary flag', { inputs: [], parameters: { binary_data_output: 'yes' } }, /^request: parameters.binary_data_output must be a boolean$/],
  ['duplicate output', { inputs: [], outputs: [{ name: 'y' }, { name: 'y' }] }, /^duplicate requested output name 'y'$/],
  [
    'header length too large',
    '{"inputs":[]}',
    /^Inference-Header-Content-Length is 99 but the body has only 13 bytes$/,
    { 'inference-header-content-length': '99' },
  ],
  ['header length not a number', '{"inputs":[]}', /must be a non-negative integer, got 'x'/, { 'inference-header-content-length': 'x' }],
];

test('malformed requests answer 400 with a precise message', async () => {
  const { app } = await build();
  for (const [what, payload, message, headers] of malformed) {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/echo/infer',
      payload: body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
    assert.match(res.json().error, message, what);
  }
  const bin = (datatype: string, shape: number[], size: number, tail: Buffer, extra: Buffer[] = []) =>
    app.inject({
      method: 'POST',
      url: '/v2/models/echo/infer',
      ...binary({ inputs: [{ name: 'a', datatype, shape, parameters: { binary_data_size: size } }] }, [tail, ...extra]),
    });
  const cases: [Promise<LightMyRequestResponse>, RegExp][] = [
    [bin('FP32', [2], 12, Buffer.alloc(12)), /^input 'a': binary_data_size is 12 but shape \[2\] of FP32 needs 8 bytes$/],
    [bin('FP32', [4], 16, Buffer.alloc(8)), /binary_data_size is 16 but only 8 bytes of binary data remain$/],
    [bin('INT8', [1], 1, Buffer.alloc(1), [Buffer.alloc(3)]), /^3 bytes of binary data are not claimed/],
    [bin('BOOL', [1], 1, Buffer.from([2])), /BOOL byte 0 is 2; expected 0 or 1/],
    [bin('BYTES', [1], 6, Buffer.from([9, 0, 0, 0, 65, 66])), /BYTES element 0 declares 9 bytes but only 2 remain/],
    [bin('BYTES', [1], 7, Buffer.from([1, 0, 0, 0, 65, 66, 67])), /2 bytes left over after 1 BYTES elements/],
    [bin('BYTES', [2], 4, Buffer.from([0, 0, 0, 0])), /2 BYTES elements need at least 8 bytes/],
  ];
  for (const [res, message] of cases) {
    const r = await res;
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().error, message);
  }
  const empty = await app.inject({ method: 'POST', url: '/v2/models/echo/infer' });
  assert.deepEqual([empty.statusCode, empty.json().error], [400, 'request body is empty; expected an inference request JSON object']);
});

test('404, 413, 503 with Retry-After, 500 for a bad model output; main app parsers untouched', async () => {
  const { app } = await build();
  const post = (url: string, payload: unknown = { inputs: [] }) => app.inject({ method: 'POST', url, payload: payload as object });
  assert.deepEqual((await post('/v2/models/nope/infer')).json(), { error: "unknown model 'nope'" });
  assert.equal((await post('/v2/models/add/versions/9/infer')).statusCode, 404);
  const route = await app.inject('/v2/models/add/infer');
  assert.deepEqual([route.statusCode, route.json()], [404, { error: 'no V2 route for GET /v2/models/add/infer' }]);
  const big = await post('/v2/models/echo/infer', { inputs: [{ name: 'a', datatype: 'UINT8', shape: [70000], data: new Array(70000).fill(0) }] });
  assert.equal(big.statusCode, 413);
  assert.match(big.json().error, /body/i);
  const loading = await post('/v2/models/loading/infer');
  assert.deepEqual([loading.statusCode, loading.json()], [503, { error: "model 'loading' is not ready" }]);
  const busy = await post('/v2/models/busy/infer');
  assert.deepEqual([busy.statusCode, busy.headers['retry-after']], [503, '2']);
  const broken = await post('/v2/models/broken/infer');
  assert.deepEqual([broken.statusCode, broken.json().error], [500, "output 'y': data has 2 elements but shape [3] needs 3"]);
  assert.deepEqual((await post('/echo-json', { x: 1 })).json(), { kind: 'object', body: { x: 1 } });
});
