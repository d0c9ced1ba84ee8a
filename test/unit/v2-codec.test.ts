/**
 * The V2 codec below HTTP: binary tensors at every alignment, FP16 conversion, the shortest
 * float text of JSON answers, and how model outputs of loose types are encoded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeInferRequest, encodeInferResponse } from '../../runtime/main/v2/codec.ts';
import { floatToHalf, halfToFloat, shortestText } from '../../runtime/shared/float16.ts';

/** Lays a binary-extension body into a larger buffer at byte `shift`, as a pooled Buffer would be. */
function bodyAt(shift: number, header: object, tail: Buffer): { body: Buffer; length: string } {
  const json = Buffer.from(JSON.stringify(header));
  const backing = Buffer.alloc(shift + json.length + tail.length);
  json.copy(backing, shift);
  tail.copy(backing, shift + json.length);
  return { body: backing.subarray(shift), length: String(json.length) };
}

test('binary numeric tensors decode to aligned views or aligned copies at any offset', () => {
  const values = new Float64Array([1.5, -2, Math.PI]);
  const ints = new Int16Array([-3, 7, 300]);
  const tail = Buffer.concat([Buffer.from(values.buffer), Buffer.from(ints.buffer)]);
  const header = {
    inputs: [
      { name: 'f', datatype: 'FP64', shape: [3], parameters: { binary_data_size: 24 } },
      { name: 'i', datatype: 'INT16', shape: [3], parameters: { binary_data_size: 6, note: 'kept' } },
    ],
  };
  for (let shift = 0; shift < 8; shift++) {
    const { body, length } = bodyAt(shift, header, tail);
    const [f, i] = decodeInferRequest(body, length).inputs;
    assert.ok(f!.data instanceof Float64Array && i!.data instanceof Int16Array);
    assert.deepEqual(Array.from(f!.data), Array.from(values));
    assert.deepEqual(Array.from(i!.data), Array.from(ints));
    assert.equal(f!.data.byteOffset % 8, 0);
    assert.equal(i!.data.byteOffset % 2, 0);
    const aligned = (body.byteOffset + Number(length)) % 8 === 0;
    assert.equal(f!.data.buffer === body.buffer, aligned, 'a view exactly when aligned');
    assert.deepEqual(i!.parameters, { note: 'kept' }, 'binary_data_size is stripped, other parameters stay');
  }
});

test('FP16 bits convert both ways with round-to-nearest-even', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [3 * 2 ** -25, 0x0002],
    [2 ** -14, 0x0400],
    [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of cases) assert.equal(floatToHalf(value), bits, `floatToHalf(${value})`);
  assert.equal(floatToHalf(NaN) & 0x7e00, 0x7e00);
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = halfToFloat(bits);
    if (Number.isNaN(value)) continue;
    assert.equal(floatToHalf(value), bits);
  }
});

test('shortest float text reads back to the same float32', () => {
  assert.equal(shortestText(Math.fround(Math.fround(0.1) + Math.fround(0.2)), 6, 9, Math.fround), '0.3');
  assert.equal(shortestText(Math.fround(0.3), 6, 9, Math.fround), '0.3');
  assert.equal(shortestText(Math.fround(1 / 3), 6, 9, Math.fround), '0.33333334');
  assert.equal(shortestText(NaN, 6, 9, Math.fround), 'null');
  const bits = new Uint32Array(20000);
  for (let i = 0; i < bits.length; i++) bits[i] = (Math.random() * 2 ** 32) >>> 0;
  for (const v of new Float32Array(bits.buffer)) {
    if (!Number.isFinite(v)) continue;
    const text = shortestText(v, 6, 9, Math.fround);
    assert.equal(Math.fround(Number(text)), v, `${v} -> ${text}`);
  }
});

test('outputs of loose types are converted; bad outputs are 500', () => {
  const res = encodeInferResponse(
    {
      model_name: 'm',
      outputs: [
        { name: 'b', datatype: 'BOOL', shape: [3], data: new Uint8Array([0, 5, 1]) },
        { name: 'i', datatype: 'INT64', shape: [2], data: [3, -4] },
        { name: 'h', datatype: 'FP16', shape: [1], data: new Float32Array([0.5]) },
        { name: 'd', datatype: 'FP64', shape: [2], data: [NaN, 0.1], parameters: { unit: 'm' } },
        { name: 's', datatype: 'BYTES', shape: [1], data: [Buffer.from('raw')] },
      ],
    },
    { parameters: { binary_data_output: false } },
  );
  assert.equal(res.headerLength, undefined);
  assert.deepEqual(
    JSON.parse(res.body as string).outputs.map((o: { data: unknown }) => o.data),
    [[false, true, true], [3, -4], [0.5], [null, 0.1], ['raw']],
  );
  const bin = encodeInferResponse(
    { model_name: 'm', outputs: [{ name: 'b', datatype: 'BOOL', shape: [2], data: [false, 7] }] },
    { parameters: { binary_data_output: true } },
  );
  assert.deepEqual((bin.body as Buffer).subarray(bin.headerLength), Buffer.from([0, 1]));
  const fail = (datatype: string, shape: unknown, data: ArrayLike<unknown>, message: RegExp) =>
    assert.throws(
      () => encodeInferResponse({ model_name: 'm', outputs: [{ name: 'y', datatype, shape: shape as number[], data }] }, {}),
      (err: Error & { statusCode?: number }) => {
        assert.equal(err.statusCode, 500);
        assert.match(err.message, message);
        return true;
      },
    );
  fail('FP8', [1], [1], /unknown datatype 'FP8'/);
  fail('FP32', [-1], [1], /shape \[-1\] is not a list of non-negative integers/);
  fail('INT64', [1], [NaN], /cannot convert data to INT64/);
  fail('BYTES', [1], [1], /BYTES elements must be strings or Uint8Arrays/);
});

test('decode limits: UINT64 range, rank cap, scalar shape', () => {
  const decode = (input: object) => decodeInferRequest(Buffer.from(JSON.stringify({ inputs: [input] })), undefined);
  assert.throws(() => decode({ name: 'u', datatype: 'UINT64', shape: [1], data: ['18446744073709551616'] }), /expected a value in UINT64 range/);
  assert.throws(() => decode({ name: 'r', datatype: 'INT8', shape: new Array(33).fill(1), data: [1] }), /shape: Too big/);
  assert.deepEqual(Array.from(decode({ name: 's', datatype: 'INT32', shape: [], data: [7] }).inputs[0]!.data as Int32Array), [7]);
  assert.throws(() => decode({ name: 's', datatype: 'INT32', shape: [], data: [[7]] }), /data is nested deeper than shape \[\]/);
});
