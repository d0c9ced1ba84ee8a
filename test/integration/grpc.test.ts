// The Open Inference Protocol over gRPC, against real deployments on a real port, with a
// grpc-js client: the same answers as REST bit for bit, every error as its gRPC status,
// health, deadlines that drop queued calls, and a shutdown that drains.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { LightMyRequestResponse } from 'fastify';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { OnnxRepositoryDeployment } from 'threadserve/onnx';
import { generateModels } from '../../examples/forecast/generate-models.ts';
import { v2GrpcClient } from '../fixtures/grpc-client.ts';
import type { V2GrpcClient } from '../fixtures/grpc-client.ts';
import { SlowModelD, TypedModelD } from '../fixtures/v2-models.ts';

const bytesOf = (t: ArrayBufferView) => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
function lengthPrefixed(items: string[]): Buffer {
  return Buffer.concat(
    items.flatMap((s) => {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

/** REST with the binary extension: every input binary, every output asked for binary. */
async function restBinary(
  s: ServeInstance,
  model: string,
  inputs: Array<{ name: string; datatype: string; shape: number[]; bytes: Buffer }>,
  extra: object = {},
) {
  const header = Buffer.from(
    JSON.stringify({
      ...extra,
      inputs: inputs.map(({ bytes, ...t }) => ({ ...t, parameters: { binary_data_size: bytes.length } })),
      parameters: { binary_data_output: true },
    }),
  );
  const res = await s.http.inject({
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    payload: Buffer.concat([header, ...inputs.map((t) => t.bytes)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  });
  assert.equal(res.statusCode, 200, res.body);
  return splitBinary(res);
}

/** The binary tail split into one Buffer per output, by binary_data_size. */
function splitBinary(res: LightMyRequestResponse) {
  const n = Number(res.headers['inference-header-content-length']);
  const json = JSON.parse(res.rawPayload.subarray(0, n).toString());
  let off = n;
  const tails = (json.outputs as Array<{ parameters: { binary_data_size: number } }>).map((o) => {
    const b = res.rawPayload.subarray(off, off + o.parameters.binary_data_size);
    off += b.length;
    return Buffer.from(b);
  });
  return { json, tails };
}

async function rejects(p: Promise<unknown>, code: status, message?: RegExp) {
  await assert.rejects(p, (err: { code: number; details: string }) => {
    assert.equal(err.code, code, `expected ${status[code]}, got ${status[err.code]}: ${err.details}`);
    if (message) assert.match(err.details, message);
    return true;
  });
}

/** Polls until `f` is true (no fixed sleeps: the machine may be slow). */
async function until(f: () => Promise<boolean>, what: string) {
  const deadline = Date.now() + 30_000;
  while (!(await f())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const features = Float32Array.from([1.2, 1.1, 0.9, 1, 1.05, 0.97, 1.3, 1.25, 0, 1, 0]);
const forecastRaw = (id: string, extra: object = {}) => ({
  model_name: id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11] }],
  raw_input_contents: [bytesOf(features)],
  ...extra,
});

describe('Open Inference Protocol over gRPC', () => {
  let dir: string;
  let s: ServeInstance;
  let client: V2GrpcClient;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ts-grpc-'));
    await generateModels(dir, 3); // AD, AE, AF
    const models = OnnxRepositoryDeployment.options({ name: 'CountryModels', numReplicas: 1 }).bind({
      repository: dir,
      maxNumModelsPerReplica: 4,
      intraOpNumThreads: 1,
    });
    s = await serve.run(
      {
        models,
        typed: TypedModelD.bind(),
        queue: SlowModelD.options({ name: 'slow-queue', maxOngoingRequests: 1 }).bind(),
        busy: SlowModelD.options({ name: 'slow-busy', maxOngoingRequests: 1, maxQueuedRequests: 0 }).bind(),
      },
      { port: 0, logLevel: 'silent' },
    );
    assert.ok(s.grpcAddress, 'a gRPC server runs beside HTTP');
    client = v2GrpcClient(s.grpcAddress);
  });
  after(async () => {
    client?.close();
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers health, server and model metadata, and grpc.health.v1', async () => {
    assert.deepEqual(await client.call('ServerLive', {}), { live: true });
    assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
    const server = await client.call('ServerMetadata', {});
    assert.equal(server.name, 'threadserve');
    assert.match(server.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(await client.call('ModelReady', { name: 'typed' }), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'AE', version: '1' }), { ready: true });
    const meta = await client.call('ModelMetadata', { name: 'AD' });
    assert.equal(meta.name, 'AD');
    assert.deepEqual(meta.versions, ['1']);
    assert.deepEqual(meta.inputs, [{ name: 'features', datatype: 'FP32', shape: ['-1', '11'] }]);
    assert.equal(await client.health(''), 'SERVING');
    assert.equal(await client.health('inference.GRPCInferenceService'), 'SERVING');
    await rejects(client.health('no.such.Service'), status.NOT_FOUND);
  });

  it('gives the REST answers bit for bit for FP32 (each multiplexed model id), raw and typed', async () => {
    for (const id of ['AD', 'AE', 'AF']) {
      const raw = await client.call('ModelInfer', forecastRaw(id, { id: `req-${id}` }));
      assert.equal(raw.id, `req-${id}`);
      assert.equal(raw.model_name, id);
      assert.equal(raw.outputs[0].datatype, 'FP32');
      assert.deepEqual(raw.outputs[0].shape, ['1', '1']);
      const rest = await restBinary(s, id, [{ name: 'features', datatype: 'FP32', shape: [1, 11], bytes: bytesOf(features) }]);
      assert.deepEqual(raw.raw_output_contents, rest.tails, `${id}: raw gRPC output equals REST binary output`);
      // Typed contents in, typed contents out; REST JSON gives the same float32 values.
      const typed = await client.call('ModelInfer', {
        model_name: id,
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], contents: { fp32_contents: [...features] } }],
      });
      assert.equal(typed.raw_output_contents.length, 0);
      assert.deepEqual(bytesOf(Float32Array.from(typed.outputs[0].contents.fp32_contents)), rest.tails[0]);
      const json = await s.http.inject({
        method: 'POST',
        url: `/v2/models/${id}/infer`,
        payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], data: [...features] }] },
      });
      assert.deepEqual(bytesOf(Float32Array.from(json.json().outputs[0].data)), rest.tails[0]);
    }
    const ad = await client.call('ModelInfer', forecastRaw('AD'));
    const ae = await client.call('ModelInfer', forecastRaw('AE'));
    assert.notDeepEqual(ad.raw_output_contents, ae.raw_output_contents, 'each id reaches its own model');
  });

  it('gives the REST answers bit for bit for INT64, FP16 and BYTES, with outputs selection and parameters', async () => {
    const i64 = new BigInt64Array([2n ** 62n + 1n, -5n, 0n]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff]);
    const strings = ['héllo', '', 'abc'];
    const f32 = Float32Array.from([0.1, -3.5]);
    const inputs = [
      { name: 'f32', datatype: 'FP32', shape: [2], bytes: bytesOf(f32) },
      { name: 'i64', datatype: 'INT64', shape: [3], bytes: bytesOf(i64) },
      { name: 'f16', datatype: 'FP16', shape: [3], bytes: bytesOf(f16) },
      { name: 's', datatype: 'BYTES', shape: [3], bytes: lengthPrefixed(strings) },
    ];
    const rest = await restBinary(s, 'typed', inputs);
    const grpc = await client.call('ModelInfer', {
      model_name: 'typed',
      id: 'typed-1',
      parameters: {
        flag: { bool_param: true },
        n: { int64_param: '9007199254740993' },
        x: { double_param: 0.5 },
        name: { string_param: 'a' },
        u: { uint64_param: '18446744073709551615' },
      },
      inputs: inputs.map(({ bytes: _b, ...t }) => t),
      raw_input_contents: inputs.map((t) => t.bytes),
    });
    assert.equal(grpc.id, 'typed-1');
    assert.deepEqual(
      grpc.outputs.map((o: { name: string }) => o.name),
      rest.json.outputs.map((o: { name: string }) => o.name),
    );
    assert.deepEqual(grpc.raw_output_contents, rest.tails);
    assert.deepEqual(new BigInt64Array(new Uint8Array(grpc.raw_output_contents[1]).buffer), new BigInt64Array([3n * (2n ** 62n + 1n) - 1n, -16n, -1n]));

    // Typed contents for what has a typed field; FP16 exists only raw, so its output makes every output raw.
    const typed = await client.call('ModelInfer', {
      model_name: 'typed',
      inputs: [
        { name: 'i64', datatype: 'INT64', shape: [3], contents: { int64_contents: [...i64].map(String) } },
        { name: 's', datatype: 'BYTES', shape: [3], contents: { bytes_contents: strings.map((x) => Buffer.from(x)) } },
      ],
      outputs: [{ name: 's_out' }, { name: 'i64_out' }],
    });
    assert.deepEqual(
      typed.outputs.map((o: { name: string }) => o.name),
      ['s_out', 'i64_out'],
    );
    assert.deepEqual(typed.outputs[0].contents.bytes_contents, [Buffer.from('OLLÉH'), Buffer.from(''), Buffer.from('CBA')]);
    // 3 * (2^62 + 1) - 1 wraps around in int64 as it does in the model's BigInt64Array.
    assert.deepEqual(typed.outputs[1].contents.int64_contents, ['-4611686018427387902', '-16', '-1']);
    const json = await s.http.inject({
      method: 'POST',
      url: '/v2/models/typed/infer',
      payload: {
        inputs: [
          { name: 'i64', datatype: 'INT64', shape: [3], data: [...i64].map(String) },
          { name: 's', datatype: 'BYTES', shape: [3], data: strings },
        ],
        outputs: [{ name: 's_out' }, { name: 'i64_out' }],
      },
    });
    const restJson = json.json();
    assert.deepEqual(restJson.outputs[0].data, typed.outputs[0].contents.bytes_contents.map(String));
    // JSON.parse would round the INT64 values: compare the REST body's text.
    assert.ok(json.body.includes(`"data":[${typed.outputs[1].contents.int64_contents.join(',')}]`), json.body);
    const half = await client.call('ModelInfer', {
      model_name: 'typed',
      inputs: [inputs[2]!].map(({ bytes: _b, ...t }) => t),
      raw_input_contents: [inputs[2]!.bytes],
    });
    assert.deepEqual(half.raw_output_contents, [rest.tails[2]]);
  });

  it('answers bad tensors with INVALID_ARGUMENT naming the input, and unknown models with NOT_FOUND', async () => {
    const feat = (extra: object) => ({ model_name: 'AD', inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], ...extra }] });
    const cases: Array<[object, RegExp]> = [
      [{ ...forecastRaw('AD'), raw_input_contents: [Buffer.alloc(8)] }, /input 'features': raw_input_contents has 8 bytes but shape \[1,11\] of FP32 needs 44/],
      [feat({ contents: { fp32_contents: [1, 2, 3] } }), /input 'features': contents.fp32_contents has 3 elements but shape \[1,11\] needs 11/],
      [feat({ contents: { int_contents: new Array(11).fill(1) } }), /input 'features': FP32 data goes in contents.fp32_contents, got contents.int_contents/],
      [feat({ datatype: 'FP17' }), /input 'features': unknown datatype 'FP17'/],
      [
        { model_name: 'typed', inputs: [{ name: 'f16', datatype: 'FP16', shape: [1], contents: {} }] },
        /input 'f16': FP16 has no typed contents field.*raw_input_contents/,
      ],
      [
        { model_name: 'typed', inputs: [{ name: 'i', datatype: 'INT8', shape: [1], contents: { int_contents: [300] } }] },
        /input 'i': element 0 is 300; expected a value in INT8 range/,
      ],
      [{ ...forecastRaw('AD'), raw_input_contents: [bytesOf(features), bytesOf(features)] }, /raw_input_contents has 2 entries but the request has 1 inputs/],
      [{ ...forecastRaw('AD'), inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 11] }] }, /input "x"|'x'/],
      [{ ...forecastRaw('AD'), parameters: { p: {} } }, /request parameters.p: a parameter has no value/],
      [{ model_name: '', inputs: [] }, /model name is empty/],
    ];
    for (const [req, message] of cases) await rejects(client.call('ModelInfer', req), status.INVALID_ARGUMENT, message);
    await rejects(client.call('ModelInfer', forecastRaw('DE')), status.NOT_FOUND, /DE/);
    await rejects(client.call('ModelMetadata', { name: 'typed', version: '7' }), status.NOT_FOUND, /no version "7"/);
    await rejects(client.call('ModelReady', { name: 'nope' }), status.NOT_FOUND, /nope/);
    // Still serving after all that.
    assert.equal((await client.call('ModelInfer', forecastRaw('AD'))).outputs.length, 1);
  });

  it('serves ModelStreamInfer: every request answered on the stream, a failed one with its error', async () => {
    const answers = await client.stream([
      forecastRaw('AD', { id: 'a' }),
      { ...forecastRaw('AE', { id: 'b' }), raw_input_contents: [Buffer.alloc(4)] },
      forecastRaw('AF', { id: 'c' }),
    ]);
    assert.equal(answers.length, 3);
    const byId = new Map(answers.map((a) => [a.infer_response.id, a]));
    const single = await client.call('ModelInfer', forecastRaw('AD'));
    assert.equal(byId.get('a').error_message, '');
    assert.deepEqual(byId.get('a').infer_response.raw_output_contents, single.raw_output_contents);
    assert.match(byId.get('b').error_message, /input 'features': raw_input_contents has 4 bytes/);
    assert.equal(byId.get('c').infer_response.model_name, 'AF');
  });

  const slow = (model: string, ms: number) => ({
    model_name: model,
    inputs: [{ name: 'ms', datatype: 'FP32', shape: [1], contents: { fp32_contents: [ms] } }],
  });

  const started = (name: string) => s.handle<{ startedCount(): number }>(name).startedCount();
  /** Calls running on the deployment's replicas (a handle call would wait behind them). */
  const inFlight = async (name: string) => {
    const status = (await s.http.inject({ url: '/-/status' })).json() as { deployments: Array<{ name: string; replicas: Array<{ inFlight: number }> }> };
    return status.deployments.find((d) => d.name === name)!.replicas.reduce((n, r) => n + r.inFlight, 0);
  };

  it('answers backpressure with UNAVAILABLE and a retry-after', async () => {
    const first = client.call('ModelInfer', slow('slow-busy', 2000));
    await until(async () => (await inFlight('slow-busy')) === 1, 'the first call runs');
    await assert.rejects(client.call('ModelInfer', slow('slow-busy', 1)), (err: { code: number; details: string; metadata: { get(k: string): unknown[] } }) => {
      assert.equal(err.code, status.UNAVAILABLE, err.details);
      assert.match(err.details, /overloaded/);
      assert.deepEqual(err.metadata.get('retry-after'), ['1']);
      return true;
    });
    assert.equal((await first).outputs[0].contents.fp32_contents[0], 2000);
  });

  it('honours the client deadline: DEADLINE_EXCEEDED, and a call still queued never runs', async () => {
    const before = await started('slow-queue');
    const first = client.call('ModelInfer', slow('slow-queue', 1500));
    await until(async () => (await inFlight('slow-queue')) === 1, 'the first call runs');
    // Queued behind the first (maxOngoingRequests 1): its deadline passes while it waits.
    await rejects(client.call('ModelInfer', slow('slow-queue', 1), { deadlineMs: 150 }), status.DEADLINE_EXCEEDED);
    await first;
    await client.call('ModelInfer', slow('slow-queue', 1));
    assert.equal(await started('slow-queue'), before + 2, 'the call whose deadline passed in the queue never reached the replica');
  });
});

describe('gRPC limits and shutdown', () => {
  it('refuses messages over grpcMaxMessageBytes with RESOURCE_EXHAUSTED, and drains calls on close', async () => {
    const s = await serve.run({ slow: SlowModelD.bind(), typed: TypedModelD.bind() }, { port: 0, logLevel: 'silent', grpcMaxMessageBytes: 64 * 1024 });
    const client = v2GrpcClient(s.grpcAddress!);
    try {
      const big = new Float32Array(32 * 1024);
      await rejects(
        client.call('ModelInfer', {
          model_name: 'typed',
          inputs: [{ name: 'f32', datatype: 'FP32', shape: [big.length] }],
          raw_input_contents: [bytesOf(big)],
        }),
        status.RESOURCE_EXHAUSTED,
      );
      const small = await client.call('ModelInfer', {
        model_name: 'typed',
        inputs: [{ name: 'f32', datatype: 'FP32', shape: [2] }],
        raw_input_contents: [bytesOf(new Float32Array(2))],
      });
      assert.equal(small.outputs[0].name, 'f32_out');

      const running = client.call('ModelInfer', {
        model_name: 'slow',
        inputs: [{ name: 'ms', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1500] } }],
      });
      await until(async () => (await s.handle<{ startedCount(): number }>('slow').startedCount()) === 1, 'the slow call runs');
      const closed = s.close();
      await rejects(client.call('ServerLive', {}), status.UNAVAILABLE);
      assert.equal((await running).outputs[0].contents.fp32_contents[0], 1500, 'the running call finished during the drain');
      await closed;
    } finally {
      client.close();
      await s.close();
    }
  });

  it('runs no gRPC server with grpcPort false, and checks the options', async () => {
    const s = await serve.run({ typed: TypedModelD.bind() }, { port: 0, logLevel: 'silent', grpcPort: false });
    assert.equal(s.grpcAddress, undefined);
    await s.close();
    await assert.rejects(
      serve.run({ typed: TypedModelD.bind() }, { grpcPort: 70000 as number }),
      /serve: grpcPort must be an integer port from 0 to 65535, or false, got 70000/,
    );
  });
});
